"""Calling the user's functions: copies of the arguments, a timeout, a mutation record, and
turning what they return into arrays. A call that raises, hangs or breaks the protocol becomes
`CallFailed`, carrying the "raised" `convgrad.CheckResult` that reports it; no check lives here.
"""

from __future__ import annotations

import inspect
import queue
import threading
from collections.abc import Callable, Sequence

import numpy as np

from convgrad.verification.checks import BACKWARD_OUTPUT, CheckResult
from convgrad.verification.isolation import RemoteError, Worker
from convgrad.verification.source import locate

CONVENTIONS = {"forward": ("x", "w", "spec"), "backward": ("x", "w", "grad_y", "spec")}
"""The arguments verify passes each user function, by position."""

SPEC_FIELDS = {
    **dict.fromkeys(("stride", "strides", "s"), "stride"),
    **dict.fromkeys(("padding", "paddings", "pad", "pads", "p"), "padding"),
    **dict.fromkeys(("dilation", "dilations"), "dilation"),
    **dict.fromkeys(("groups", "group"), "groups"),
    "padding_mode": "padding_mode",
    "mode": "mode",
    "flip": "flip",
    "output_padding": "output_padding",
}
"""Parameter names of a keyword-style convolution, each with the spec attribute it takes."""

HYPERPARAMETERS = frozenset(SPEC_FIELDS) | {"b", "bias", "kernel_size"}
"""Parameter names that say the function wants a hyperparameter, not a spec object."""

_ROLES = {
    "x": ("x", "input", "inputs", "inp", "a", "image", "images", "activations"),
    "w": ("w", "weight", "weights", "kernel", "kernels", "filter", "filters", "k"),
    "grad_y": ("grad_y", "dy", "gy", "grad", "grad_out", "grad_output", "dout", "delta"),
}
"""Parameter names that say which array a parameter wants (for the wrapper's argument order)."""


def _path(fn: Callable) -> str:
    """``module:qualname`` of ``fn`` (seen through `functools.wraps`), else its repr."""
    located = locate(fn)
    if located is not None:
        return located
    target = inspect.unwrap(fn)
    module, qualname = getattr(target, "__module__", None), getattr(target, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        return f"{module}:{qualname}"
    return repr(fn)


def _wrapper(fn: Callable, name: str, signature: inspect.Signature, spec_type: str) -> str:
    """One line of Python adapting ``fn`` to ``name``'s convention: its array parameters in the
    order their names ask for (else as given), each hyperparameter it names as a keyword taking
    the spec's attribute (stride and padding when it names none), and no bias (verify's forward
    takes none)."""
    arguments = CONVENTIONS[name]
    arrays = arguments[:-1]
    positional = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    leading = []
    for parameter in positional[: len(arrays)]:
        if parameter.lower() in HYPERPARAMETERS:
            break
        leading.append(parameter)
    roles = [next((r for r, names in _ROLES.items() if p.lower() in names), None) for p in leading]
    if None in roles or len(set(roles)) != len(roles) or not set(roles) <= set(arrays):
        roles = list(arrays[: len(leading)])
    fields = [
        (p, SPEC_FIELDS[p.lower()])
        for p in signature.parameters
        if p.lower() in SPEC_FIELDS
        and (p.lower() != "output_padding" or spec_type != "ResolvedSpec")
    ] or [("stride", "stride"), ("padding", "padding")]
    biases = [p for p in signature.parameters if p.lower() in ("b", "bias")]
    keywords = [*(f"{p}=spec.{field}" for p, field in fields), *(f"{p}=None" for p in biases)]
    call = ", ".join([*roles, *keywords])
    leaf = getattr(inspect.unwrap(fn), "__name__", name)
    leaf = leaf if leaf.isidentifier() else name
    return f"def {leaf}_spec({', '.join(arguments)}): return {leaf}({call})"


def spec_parameter_hint(
    fn: Callable, name: str, spec_type: str = "ResolvedSpec", caller: str = "verify"
) -> str | None:
    """Whether ``fn`` can be called as ``caller`` (verify, or verify_transpose passing a
    ``spec_type`` of "TransposeSpec") calls ``name`` (`CONVENTIONS`, by position).

    Returns None when it can and the spec lands on a parameter that may take it (``spec``,
    ``*args``, any name not in `HYPERPARAMETERS`), or when the signature cannot be read (a
    builtin); else, when the spec lands on a parameter named like a hyperparameter (``stride``),
    the words that explain a failed call: which parameter received the spec object, and a
    wrapper (`_wrapper`). The function is not refused then: a correct one may name it oddly.

    Raises:
        TypeError: ``fn`` cannot take those arguments (too few or too many positional
            parameters, a required keyword-only one); the message names the function, its
            signature, the convention and a wrapper.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    arguments = CONVENTIONS[name]
    convention = f"{name}({', '.join(arguments)})"
    try:
        bound = signature.bind(*arguments)
    except TypeError as error:
        raise TypeError(
            f"{name}={_path(fn)}{signature} cannot be called as {convention} ({error}):"
            f" {caller} passes the arrays and one {spec_type} by position; pass {caller}"
            f" {_wrapper_words(fn, name, signature, spec_type)}"
        ) from None
    receiver = next((p for p, value in bound.arguments.items() if value is arguments[-1]), "")
    if receiver.lower() not in HYPERPARAMETERS:
        return None
    return (
        f"{caller} passed a {spec_type} as the parameter named {receiver!r} of"
        f" {_path(fn)}{signature}, calling {convention} by position; if your function takes the"
        f" hyperparameters separately, pass {caller}"
        f" {_wrapper_words(fn, name, signature, spec_type)}"
    )


def _wrapper_words(fn: Callable, name: str, signature: inspect.Signature, spec_type: str) -> str:
    """The words offering `_wrapper`'s line, with what the spec's fields hold."""
    fields = "spec.stride is a tuple, spec.padding one (lo, hi) pair per dim"
    return f"a wrapper such as `{_wrapper(fn, name, signature, spec_type)}` ({fields})"


class CallFailed(Exception):
    """A user function raised, timed out or broke the protocol; carries the `CheckResult` and
    ``error``, the exception raised (a `RemoteError` when it was raised in a child process; None
    for a timeout, a crash or a protocol break)."""

    def __init__(
        self, result: CheckResult, error: BaseException | RemoteError | None = None
    ) -> None:
        super().__init__(result.message)
        self.result = result
        self.error = error


class CallThread:
    """One daemon thread that runs the calls submitted to it, in order: a call with a timeout
    costs a hand-over instead of a thread start, and the user's code always runs on the same
    thread (thread pools of OpenMP or PyTorch, which keep one team per calling thread, are
    made once; thread-local state persists between calls, as it does in a user's program).
    The thread ends after `IDLE` seconds without a call and starts again on the next; a
    per-thread setting changed meanwhile in another thread (``torch.set_num_threads``,
    ``omp_set_num_threads``) reaches it when it starts again."""

    IDLE = 5.0
    """Seconds the thread waits for a call before it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.stuck = False
        """True once a call did not return in time: the thread is abandoned to it."""

    def submit(self, target: Callable[[], None]) -> threading.Event:
        """Run ``target()`` on the thread; the returned event is set when it has returned."""
        done = threading.Event()
        with self._lock:
            self._jobs.put((target, done))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="convgrad-calls", daemon=True
                )
                self._thread.start()
        return done

    def _serve(self) -> None:
        while True:
            try:
                target, done = self._jobs.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._thread = None
                        return
                continue
            target()
            done.set()


_threads = threading.local()


def call_thread() -> CallThread:
    """The calling thread's `CallThread` (a new one after a call on the last got stuck): each
    thread that runs verify has its own, so concurrent runs do not wait on each other."""
    current = getattr(_threads, "current", None)
    if current is None or current.stuck:
        current = _threads.current = CallThread()
    return current


class UserFunction:
    """A user's function called with copies of its arguments, a timeout and a mutation check.

    fn: the callable; name: "forward" or "backward"; timeout: seconds (None: no limit). With
    a timeout the calls run on the caller's `CallThread`; one that does not return in time is
    abandoned there (Python cannot kill it) and every later call fails at once instead of
    waiting again. errstate: the NumPy floating-point error
    settings (`numpy.geterr`) the function runs under, the caller's (verify's own arithmetic
    runs with every error ignored). ``mutations`` lists, per argument name, the calls that
    changed it. A KeyboardInterrupt raised by the function (Ctrl-C) is re-raised to the caller
    of verify, not reported as a failed check. isolation: "thread" (in this process) or
    "process" (`convgrad.verification.isolation.Worker`: a crash fails the call, a timeout kills
    the child and later calls run again); call `close` when done. hint: `spec_parameter_hint`'s
    words on how fn receives the spec, for the reports of its failed calls (None: nothing to say).
    """

    def __init__(
        self,
        fn: Callable,
        name: str,
        timeout: float | None,
        errstate: dict | None = None,
        isolation: str = "thread",
        hint: str | None = None,
    ) -> None:
        self.fn, self.name, self.timeout, self.hint = fn, name, timeout, hint
        self.errstate = dict(np.geterr() if errstate is None else errstate)
        self.worker = Worker(fn, self.errstate) if isolation == "process" else None
        self.hung = False
        self.mutations: dict[str, int] = {}

    @property
    def output(self) -> str:
        """The output name its whole-call failures are reported under."""
        return "forward" if self.name == "forward" else BACKWARD_OUTPUT

    def _fail(self, message: str, error: BaseException | RemoteError | None = None) -> CallFailed:
        return CallFailed(CheckResult("raised", self.output, False, message), error)

    def __call__(
        self,
        arrays: dict[str, np.ndarray],
        spec,
        copy: Callable[[np.ndarray], np.ndarray] = np.ndarray.copy,
    ) -> object:
        """fn(*copies of arrays, spec); ``copy`` makes each new array passed (C-contiguous by
        default; `convgrad.verification.layout` passes other memory layouts)."""
        if self.hung:
            raise self._fail(
                f"{self.name} did not return within timeout={self.timeout} s earlier; not called"
                " again"
            )
        copies = {k: copy(v) for k, v in arrays.items()}
        if self.worker is not None:
            box, copies = self._in_process(copies, spec)
        else:
            box = self._in_thread(copies, spec)
        for key, original in arrays.items():
            if not np.array_equal(copies[key], original, equal_nan=True):
                self.mutations[key] = self.mutations.get(key, 0) + 1
        if "interrupt" in box:
            raise KeyboardInterrupt
        if "error" in box:
            err = box["error"]
            if isinstance(err, BaseException):
                # In this process: the exception itself travels (the probe reads its type).
                raise self._fail(f"{self.name} raised {type(err).__name__}: {err}", err)
            raise self._fail(f"{self.name} raised {err.text}", err)
        return box["value"]

    def _in_thread(self, copies: dict[str, np.ndarray], spec) -> dict[str, object]:
        box: dict[str, object] = {}

        def target() -> None:
            try:
                with np.errstate(**self.errstate):
                    box["value"] = self.fn(*copies.values(), spec)
            except KeyboardInterrupt:
                # Raised in the timeout's thread it would end only that thread: carry it over.
                box["interrupt"] = True
            except BaseException as err:
                # SystemExit (sys.exit in user code) too: a failed check, not the end of verify.
                box["error"] = err

        if self.timeout is None:
            target()
            return box
        worker = call_thread()
        if not worker.submit(target).wait(self.timeout):
            worker.stuck = self.hung = True
            raise self._fail(f"{self.name} did not return within timeout={self.timeout} s")
        return box

    def _in_process(self, copies: dict[str, np.ndarray], spec):
        """(box, the arrays as the child left them): the call in the worker process; a crash
        or a timeout (the child killed, so the next call may run again) fails the call."""
        outcome, payload, after = self.worker.call(copies, spec, self.timeout)
        if outcome == "crashed":
            raise self._fail(
                f"{self.name} crashed: {payload} (its process died; verify ran it in a child"
                " process, isolation='process')"
            )
        if outcome == "timeout":
            raise self._fail(
                f"{self.name} did not return within timeout={self.timeout} s; its process was"
                " killed"
            )
        return {outcome: payload if outcome != "interrupt" else True}, after

    def close(self) -> None:
        """End the worker process, if any."""
        if self.worker is not None:
            self.worker.close()


def as_array(value: object, output: str) -> np.ndarray:
    """The user's result as an array; CallFailed (check "raised") when it is not array-like."""
    try:
        array = np.asarray(value)
    except Exception as err:
        raise CallFailed(
            CheckResult(
                "raised",
                output,
                False,
                f"{output} is a {type(value).__name__} that"
                f" NumPy cannot convert to an array ({err})",
            )
        ) from err
    if array.dtype.kind not in "biufc":
        raise CallFailed(
            CheckResult(
                "raised",
                output,
                False,
                f"{output} is a {type(value).__name__} (dtype {array.dtype}), not a numeric array",
            )
        )
    return array


def split_gradients(value: object) -> tuple[object, ...]:
    """backward's result as (grad_x, grad_w) or (grad_x, grad_w, grad_b); CallFailed otherwise."""
    if isinstance(value, np.ndarray) or not isinstance(value, Sequence) or len(value) not in (2, 3):
        kind = type(value).__name__
        size = f" of length {len(value)}" if isinstance(value, Sequence) else ""
        raise CallFailed(
            CheckResult(
                "raised",
                BACKWARD_OUTPUT,
                False,
                f"backward returned a {kind}{size}; expected"
                " a tuple (grad_x, grad_w) or (grad_x, grad_w, grad_b)",
            )
        )
    return tuple(value)


__all__ = [
    "CONVENTIONS",
    "HYPERPARAMETERS",
    "SPEC_FIELDS",
    "CallFailed",
    "CallThread",
    "UserFunction",
    "as_array",
    "call_thread",
    "spec_parameter_hint",
    "split_gradients",
]
