"""Export and import of whole threads: a JSON document per thread (and a ZIP of them), Markdown.

`document.py` defines the JSON document once (the import validates it, the OpenAPI document
shows it), `export.py` streams it, `importing.py` brings one back in as a unit of work.
"""
