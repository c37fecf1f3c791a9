"""Subcommands of the ``convgrad`` command line, one module each (see `convgrad.cli`):
`explain`, `verify`, `report`, `vectors`, `audit` and `merge`; `_parse` parses their values
(shapes, int lists, pads) with errors that name the flag."""
