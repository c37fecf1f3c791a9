"""Running a user's function in a child process (verify's ``isolation="process"``), so that a
native crash (an abort in a C++ kernel, a segfault) becomes a failed check instead of the end
of verify, and a timeout can stop code that holds the GIL (a ctypes or pybind11 kernel), which
a thread cannot.

One `Worker` per user function keeps a child process and calls the function there on request,
sending the arguments and receiving the result (or the exception's text) through a pipe, with
the argument arrays as the function left them (for the mutation check). A child that dies is
reported with its signal and restarted for the next call; one that does not answer in time is
killed and restarted.

Start method: "spawn" (a fresh interpreter, safe when the parent runs threads, as JAX and
PyTorch do) when the function can be pickled (a module-level function of an importable
module), else "fork" where the platform has it (closures, lambdas, functions of ``__main__``;
forking a multithreaded parent can deadlock the child, which then shows as a timeout). Results
must be picklable (NumPy arrays, torch tensors and JAX arrays are).
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from convgrad.verification.source import declines

Outcome = Literal["value", "error", "interrupt", "crashed", "timeout"]


@dataclass(frozen=True)
class RemoteError:
    """An exception of the child, as it comes back: ``text`` ("Type: message") and whether it
    ``declined`` the call (`convgrad.verification.source.declines`, judged in the child, where
    its traceback is)."""

    text: str
    declined: bool


def _serve(connection, fn: Callable, errstate: dict) -> None:
    """The child's loop: call ``fn`` on each request until the pipe closes."""
    while True:
        try:
            arrays, spec = connection.recv()
        except (EOFError, OSError):
            return
        try:
            with np.errstate(**errstate):
                reply = ("value", fn(*arrays.values(), spec), arrays)
        except KeyboardInterrupt:
            reply = ("interrupt", None, arrays)
        except BaseException as err:
            # SystemExit too: a failed check, as in-process calls report it.
            reply = (
                "error",
                RemoteError(f"{type(err).__name__}: {err}", declines(err, fn)),
                arrays,
            )
        try:
            connection.send(reply)
        except Exception as err:
            connection.send(
                (
                    "error",
                    RemoteError(
                        f"returned a {type(reply[1]).__name__} that cannot be sent back from the"
                        f" child process ({type(err).__name__}: {err})",
                        False,
                    ),
                    arrays,
                )
            )


def signal_text(exitcode: int | None) -> str:
    """'signal 6 (SIGABRT)' for an exit code -6; 'exit code 3' for 3."""
    if exitcode is not None and exitcode < 0:
        try:
            name = f" ({signal.Signals(-exitcode).name})"
        except ValueError:
            name = ""
        return f"signal {-exitcode}{name}"
    return f"exit code {exitcode}"


def start_method(fn: Callable) -> str:
    """The multiprocessing start method for ``fn``: "spawn" when it pickles and lives outside
    ``__main__`` (a spawned child re-runs the main script to find it), else "fork" (ValueError
    where fork does not exist)."""
    try:
        pickle.dumps(fn)
        if getattr(fn, "__module__", None) == "__main__":
            raise ValueError("it is defined in __main__")
    except Exception as err:
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ValueError(
                f"isolation='process' needs a picklable function (a module-level def) on this"
                f" platform; {fn!r} is not ({err})"
            ) from err
        return "fork"
    return "spawn"


class Worker:
    """A child process calling ``fn`` under the NumPy error settings ``errstate``."""

    def __init__(self, fn: Callable, errstate: dict) -> None:
        self.fn, self.errstate = fn, dict(errstate)
        self.context = multiprocessing.get_context(start_method(fn))
        self.process = None
        self.connection = None

    def _start(self) -> None:
        parent, child = self.context.Pipe()
        self.process = self.context.Process(
            target=_serve, args=(child, self.fn, self.errstate), daemon=True
        )
        self.process.start()
        child.close()
        self.connection = parent

    def call(
        self, arrays: dict[str, np.ndarray], spec, timeout: float | None
    ) -> tuple[Outcome, object, dict[str, np.ndarray]]:
        """(outcome, payload, the arrays after the call): payload is the value, a `RemoteError`
        ("error"), the signal text ("crashed"), or None."""
        if self.process is None or not self.process.is_alive():
            self.close()
            self._start()
        try:
            self.connection.send((arrays, spec))
            if not self.connection.poll(timeout):
                self.close()
                return "timeout", None, arrays
            outcome, payload, after = self.connection.recv()
        except (EOFError, OSError):
            self.process.join(5)
            text = signal_text(self.process.exitcode)
            self.close()
            return "crashed", text, arrays
        return outcome, payload, after

    def close(self) -> None:
        """Stop the child (killed if it does not end at once)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        if self.process is not None:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(5)
            self.process = None


__all__ = ["Outcome", "RemoteError", "Worker", "signal_text", "start_method"]
