"""Subcommands of the ``convgrad`` command line, one module each (see `convgrad.cli`)."""
