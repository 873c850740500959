"""The test suite's fixtures live in tests/support/ (fixtures.py, ui.py, chatkit.py), its helpers beside them."""

pytest_plugins = ["support.fixtures", "support.ui", "support.chatkit"]
