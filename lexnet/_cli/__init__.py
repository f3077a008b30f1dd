"""Subcommands of the ``lexnet`` command line, one module per pipeline step."""
