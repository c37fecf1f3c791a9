"""The ``convgrad`` command line: one subcommand per module in `convgrad.commands`.

Exit codes: 0 success (every check passed), 1 a check failed, 2 a usage error or a file that
cannot be read or written (one line naming the path and the reason; no traceback unless
``--debug``), 130 interrupted (Ctrl-C), 141 the reader of stdout went away (``| head``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from convgrad._version import __version__
from convgrad.vectors.hashing import committed_summary

INTERRUPTED = 130
"""The exit code after Ctrl-C: 128 + SIGINT, what a shell reports for a program SIGINT ended."""
CLOSED_PIPE = 141
"""The exit code when stdout's reader has gone: 128 + SIGPIPE, what a shell reports for a program
SIGPIPE ended (``yes | head``), so that ``set -o pipefail`` sees the usual status; never 1,
which means a check failed."""

COMMANDS: tuple[str, ...] = ("explain", "vectors", "verify", "report", "audit", "merge")
"""Modules of `convgrad.commands`, each with ``add_parser(subparsers)`` and ``run(args) -> int``."""


class UsageError(Exception):
    """A bad argument: printed as one line, exit code 2."""


def _version_text() -> str:
    core = committed_summary("core")
    return f"convgrad {__version__} (vectors core v{core['format_version']} {core['set_hash']})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="convgrad",
        description="The correctness oracle for N-d convolution and its gradients.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version_text())
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"convgrad.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code = args.run(args)
        # Flushed here, not at exit, so that a closed pipe is caught below.
        sys.stdout.flush()
        return code
    except (UsageError, ValueError, TypeError) as error:
        if args.debug:
            raise
        print(f"convgrad {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) has gone: stop quietly. Python's recipe (signal docs, "Note
        # on SIGPIPE"): point stdout at devnull so the interpreter's final flush cannot fail;
        # its exit code 1 would read as "a check failed" here, hence CLOSED_PIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return CLOSED_PIPE
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"convgrad {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except OSError as error:
        if args.debug:
            raise
        print(f"convgrad {args.command}: error: {os_error_text(error)}", file=sys.stderr)
        return 2


def os_error_text(error: OSError) -> str:
    """One line: the path(s) and the reason (``'out/x.json': Permission denied``), or the
    error's own message when it names no path."""
    if error.filename is None:
        return str(error)
    where = repr(os.fsdecode(error.filename))
    if error.filename2 is not None:
        where += f" -> {os.fsdecode(error.filename2)!r}"
    return f"{where}: {error.strerror or type(error).__name__}"
