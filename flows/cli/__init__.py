"""The crwatch command line: the root group in app.py, one module per group of commands."""
