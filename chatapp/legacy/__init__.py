"""Legacy import: the chat tables of the seed notes' schemas, brought into chatapp's tables.

`flask chat import-legacy --from URL` (chatapp/cli.py) runs `importer.LegacyImport`:
`source.py` opens the database read-only and finds the shapes `shapes.py` describes (by their
columns), `values.py` reads each legacy value or says why it cannot, and every thread is written
through the store as one unit of work.
"""
