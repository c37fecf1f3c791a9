"""``convgrad verify``: run `convgrad.verify` on an importable implementation.

    convgrad verify mylib.conv:forward --backward mylib.conv:backward --mode valid,same \\
        --stride 1,2 --max-examples 200 --json report.json

Exit codes: 0 every check passed, 1 a check failed (the minimal case is printed), 2 a usage
error, a module that cannot be imported, or a file that cannot be written. Features the
implementation does not support are left out (the capability table says which) unless
``--strict``, which counts them as failures. The current directory is importable, as with
``python -m``. An existing --json or --html file is replaced only when convgrad wrote it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
import threading
import time
from collections.abc import Callable

from convgrad.cli import UsageError
from convgrad.commands import _parse
from convgrad.spec import DEPTHWISE, MODES, PADDING_MODES
from convgrad.verification.bounds import FLOAT_DTYPES, PRESETS, SUBNORMALS
from convgrad.verification.integers import INTEGER_DTYPES
from convgrad.verification.space import DEFAULT_SPACE

PADDINGS = (*MODES, "explicit")


def _default(name: str) -> str:
    """The default of verify's ``name`` (`DEFAULT_SPACE`) as the flag writes it."""
    value = DEFAULT_SPACE[name]
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``verify``."""
    parser = subparsers.add_parser(
        "verify",
        help="check your convolution forward/backward against the oracle",
        description=(
            "Check an importable forward(x, w, spec) -> y, and optionally backward(x, w, grad_y,"
            " spec) -> (grad_x, grad_w[, grad_b]), against the oracle on hypothesis-drawn"
            " problems (x: (N, C_in, *S), w: (C_out, C_in/groups, *K)). Exit 0 when every check"
            " passes, 1 on a mismatch (the minimal case is printed), 2 on a usage error."
        ),
    )
    parser.add_argument("forward", metavar="MODULE:FORWARD", help="e.g. mylib.conv:forward")
    parser.add_argument("--backward", metavar="MODULE:BACKWARD", help="e.g. mylib.conv:backward")
    parser.add_argument(
        "--ndim", metavar="N", help=f"spatial dims, e.g. 1,2,3 (default {_default('ndim')})"
    )
    parser.add_argument(
        "--mode",
        metavar="MODES",
        help=f"from {', '.join(PADDINGS)} (default {_default('padding')})",
    )
    parser.add_argument("--stride", metavar="S", help=f"strides (default {_default('stride')})")
    parser.add_argument(
        "--dilation", metavar="D", help=f"dilations (default {_default('dilation')})"
    )
    parser.add_argument(
        "--groups",
        metavar="G",
        help=f"group counts, or depthwise (groups = C_in) (default {_default('groups')})",
    )
    parser.add_argument(
        "--dtype",
        default=DEFAULT_SPACE["dtype"],
        choices=(*FLOAT_DTYPES, *INTEGER_DTYPES),
        help="data dtype (integer dtypes need --accumulate)",
    )
    parser.add_argument(
        "--accumulate",
        metavar="DTYPE",
        help="the dtype the sums are carried in (integer data: required, e.g. int32 for int8)",
    )
    parser.add_argument(
        "--padding-mode",
        default=None,
        metavar="MODES",
        help=(
            f"what the pads hold, from {', '.join(PADDING_MODES)}"
            f" (default {_default('padding_mode')})"
        ),
    )
    parser.add_argument("--max-examples", default="100", metavar="N", help="problems to draw")
    parser.add_argument("--seed", default="0", metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="search features the implementation does not support (it raised"
        " NotImplementedError or its own ValueError/TypeError) and count them as failures",
    )
    parser.add_argument(
        "--subnormals",
        default="ftz",
        choices=SUBNORMALS,
        help="ftz (default): results and operands below the smallest normal may be flushed to"
        " zero; ieee: gradual underflow only",
    )
    parser.add_argument(
        "--precision",
        choices=tuple(PRESETS),
        help="operands rounded to TF32, bfloat16 or float16 before each product, sums in float32",
    )
    parser.add_argument(
        "--isolation",
        default="thread",
        choices=("thread", "process"),
        help="process: run your functions in a child process (a crash is a failure, a timeout"
        " kills it)",
    )
    parser.add_argument(
        "--deterministic",
        action="store_true",
        help="two calls must return identical bits (default: differences within the bound are"
        " a note)",
    )
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON")
    parser.add_argument("--html", metavar="PATH", help="write the HTML report")
    parser.set_defaults(run=run)
    return parser


def load_callable(flag: str, path: str) -> Callable:
    """The object named by ``module:attribute`` (dots allowed after the colon); UsageError
    naming the flag when the module or attribute does not exist or is not callable, or when
    importing the module raises or calls ``sys.exit``.

    The current directory is first on ``sys.path`` while the module is imported (as with
    ``python -m``) and removed afterwards, so a file there (a ``jinja2.py``) cannot stand in for
    a module convgrad imports later.
    """
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise UsageError(f"{flag} {path!r}: write MODULE:FUNCTION, e.g. mylib.conv:forward")
    here = os.getcwd()
    sys.path.insert(0, here)
    try:
        target = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise UsageError(f"{flag} {path!r}: no module named {error.name!r}") from error
        raise UsageError(f"{flag} {path!r}: importing it raised {error!r}") from error
    except SystemExit as error:
        raise UsageError(
            f"{flag} {path!r}: importing it called sys.exit({error.code!r}); nothing was verified"
        ) from None
    except Exception as error:
        raise UsageError(f"{flag} {path!r}: importing it raised {error!r}") from error
    finally:
        # The first occurrence is the one inserted above unless the module put another first;
        # either way one fewer, and what else the module did to sys.path stays.
        with contextlib.suppress(ValueError):
            sys.path.remove(here)
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise UsageError(f"{flag} {path!r}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise UsageError(f"{flag} {path!r} is a {type(target).__name__}, not callable")
    return target


class Progress:
    """Live progress on stderr once a run has lasted ``delay`` seconds: a bar of the problems
    checked against ``--max-examples`` on a terminal, a line every ``interval`` seconds
    otherwise. A problem starts at the first call with a new spec object: verify hands every
    call on one problem that problem's own `ResolvedSpec` (shrinking and repeated searches count
    too, so the count is capped at the total)."""

    def __init__(self, total: int, stream, *, delay: float = 1.0, interval: float = 5.0) -> None:
        self.total, self.stream = total, stream
        self.tty = stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.start = time.monotonic()
        self.shown = self.start + delay - self.interval
        self.problems, self.calls, self.drawn = 0, 0, False
        self.spec: object = None
        self.lock = threading.Lock()

    def wrap(self, function: Callable, path: str) -> Callable:
        """``function`` with its calls counted, named by its ``MODULE:ATTRIBUTE`` ``path`` (so
        that reproduce snippets import it, `convgrad.verification.source.locate`)."""

        def counted(*args):
            self.tick(args[-1])
            return function(*args)

        counted.__module__, _, counted.__qualname__ = path.partition(":")
        counted.__name__ = counted.__qualname__.rpartition(".")[2]
        counted.__wrapped__ = function
        return counted

    def tick(self, spec: object) -> None:
        """Count one call made with ``spec``; redraw when due."""
        with self.lock:
            self.calls += 1
            if spec is not self.spec:
                self.spec, self.problems = spec, self.problems + 1
            now = time.monotonic()
            if now - self.shown < self.interval:
                return
            self.shown, self.drawn = now, True
            done, elapsed = min(self.problems, self.total), now - self.start
            status = f"{done}/{self.total} problems, {self.calls} calls, {elapsed:.0f} s"
            if self.tty:
                filled = round(30 * done / self.total)
                self._write(f"\rconvgrad verify [{'#' * filled:-<30}] {status}")
            else:
                self._write(f"convgrad verify: {status}\n")

    def _write(self, text: str) -> None:
        """Write and flush; a stream that fails (its reader gone: ``2>&1 | head``) is dropped
        and the run goes on without progress, since a tick runs inside the user's function
        call, where an exception would count as the function's own."""
        if self.stream is None:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except OSError:
            self.stream = None

    def close(self) -> None:
        """End the bar's line on a terminal, if one was drawn."""
        if self.tty and self.drawn:
            self._write("\n")


def _per_value(flag: str, text: str) -> tuple[int, ...]:
    return _parse.ints(flag, text, 1)


def _html_writer(html: str | None) -> Callable:
    """``render_html``, imported with its own dependencies before any user module can shadow
    them; UsageError when the report extra is missing."""
    try:
        import jinja2  # noqa: F401
        import markupsafe  # noqa: F401
        import matplotlib  # noqa: F401

        from convgrad.report import render_html
    except ImportError as error:
        raise UsageError(
            f"--html {html!r} needs the report extra: pip install 'convgrad[report]' ({error})"
        ) from None
    return render_html


def run(args: argparse.Namespace) -> int:
    """Run verify; print the report; write --json / --html; 0 pass, 1 fail, 2 usage error or
    a file that cannot be written (checked before the run as far as it can be)."""
    from convgrad.report import atomic
    from convgrad.verification.api import verify

    options: dict[str, object] = {
        "dtype": args.dtype,
        "max_examples": _parse.one_int("--max-examples", args.max_examples, 1),
        "seed": _parse.one_int("--seed", args.seed, 0),
        "subnormals": args.subnormals,
        "precision": args.precision,
        "deterministic": args.deterministic,
        "isolation": args.isolation,
    }
    render_html = None if args.html is None else _html_writer(args.html)
    for path, owned in ((args.json, atomic.is_result_json), (args.html, atomic.is_page)):
        if path is not None:
            atomic.check_writable(atomic.check_target(path, owned))
    if args.ndim is not None:
        options["ndim"] = _parse.ints("--ndim", args.ndim, 1)
        if any(n > 3 for n in options["ndim"]):
            raise UsageError(f"--ndim {args.ndim!r}: spatial dims must be 1, 2 or 3")
    if args.mode is not None:
        options["padding"] = _parse.words("--mode", args.mode, PADDINGS)
    if args.padding_mode is not None:
        options["padding_mode"] = _parse.words("--padding-mode", args.padding_mode, PADDING_MODES)
    for name in ("stride", "dilation"):
        if getattr(args, name) is not None:
            options[name] = _per_value(f"--{name}", getattr(args, name))
    if args.groups is not None:
        options["groups"] = tuple(
            DEPTHWISE if part.strip() == DEPTHWISE else _parse.one_int("--groups", part, 1)
            for part in args.groups.split(",")
        )
    if args.accumulate is not None:
        options["accumulate"] = args.accumulate
    forward = load_callable("MODULE:FORWARD", args.forward)
    backward = None if args.backward is None else load_callable("--backward", args.backward)
    progress = Progress(options["max_examples"], sys.stderr)
    try:
        result = verify(
            progress.wrap(forward, args.forward),
            None if backward is None else progress.wrap(backward, args.backward),
            strict=args.strict,
            **options,
        )
    finally:
        progress.close()
    try:
        print(result)
        sys.stdout.flush()
    finally:
        # Written even when stdout's reader has gone (``| head``): the files are the record.
        if args.json is not None:
            atomic.write_text(args.json, result.to_json(indent=2) + "\n", atomic.is_result_json)
        if render_html is not None:
            render_html(result.to_dict(), args.html)
    return 0 if result.ok else 1
