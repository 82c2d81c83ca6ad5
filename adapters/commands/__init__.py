"""The ``tracking`` command's subcommands, by kind (adapters/cli.py parses and dispatches)."""
