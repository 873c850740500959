"""Adapters that let other frameworks keep their data in chatapp's store (see chatkit.py).

Nothing here is imported by chatapp itself, so the optional dependencies stay optional.
"""
