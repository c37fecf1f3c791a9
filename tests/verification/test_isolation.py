"""isolation="process": a native crash is a failed check with its signal, a timeout kills code
that holds the GIL, an input-dependent hang is reported on a problem that hangs, and the
in-process protocol (errors, mutation, KeyboardInterrupt) holds in the child too."""

import ctypes
import os
import signal
import time

import pytest

import convgrad as cg
from convgrad.verification.isolation import Worker, signal_text, start_method

from .implementations import (
    failure_keys,
    fixed_problem,
    ref_backward,
    ref_forward,
)


def aborts_on_wide_inputs(x, w, spec):
    """Module-level, so it pickles: run under the "spawn" start method."""
    if x.shape[-1] > 3:
        os.abort()
    return ref_forward(x, w, spec)


def test_a_native_crash_in_a_spawned_child_is_a_failure_with_its_signal():
    wide, narrow = fixed_problem(), fixed_problem(x_shape=(2, 3, 7, 3), w_shape=(3, 3, 2, 3))
    result = cg.verify(
        aborts_on_wide_inputs, ref_backward, problems=[narrow, wide], isolation="process"
    )
    assert failure_keys(result) == {("raised", "forward")}
    failure = result.failures[0]
    assert "forward crashed: signal 6 (SIGABRT)" in failure.message
    assert failure.problem["x"] == [2, 3, 7, 6]
    assert "problems=[problem]" in failure.reproduce
    assert result.settings["isolation"] == "process"


def test_a_native_crash_is_shrunk_to_a_minimal_crashing_problem():
    def forward(x, w, spec):  # a closure: run under the "fork" start method
        return aborts_on_wide_inputs(x, w, spec)

    result = cg.verify(forward, isolation="process", ndim=1, max_examples=20)
    assert failure_keys(result) == {("raised", "forward")}
    assert "signal 6 (SIGABRT)" in result.failures[0].message
    assert result.failures[0].problem["x"][-1] == 4  # the narrowest input that crashes


def test_a_timeout_kills_code_that_holds_the_gil_and_later_calls_run_again():
    holding = ctypes.PyDLL(None).sleep  # libc sleep(3), called with the GIL held
    holding.argtypes = [ctypes.c_uint]
    calls = []

    def forward(x, w, spec):
        calls.append(1)
        if x.shape[0] == 2:
            holding(60)
        return ref_forward(x, w, spec)

    start = time.perf_counter()
    small = fixed_problem(x_shape=(1, 3, 7, 6))
    result = cg.verify(forward, problems=[fixed_problem(), small], isolation="process", timeout=1.0)
    assert time.perf_counter() - start < 30
    failure = result.failures[0]
    assert (failure.check, failure.output) == ("raised", "forward")
    assert "did not return within timeout=1.0 s; its process was killed" in failure.message
    assert failure.problem["x"] == [2, 3, 7, 6]
    # The problem that does not hang ran to the end: only the hang failed.
    assert failure_keys(result) == {("raised", "forward")}
    assert len(result.failures) == 1


def test_an_input_dependent_hang_is_reported_on_a_problem_that_hangs():
    def forward(x, w, spec):
        if x.shape[-1] > 4:
            time.sleep(60)
        return ref_forward(x, w, spec)

    result = cg.verify(
        forward, isolation="process", ndim=1, timeout=0.5, max_examples=10, padding="valid"
    )
    failure = next(f for f in result.failures if f.check == "raised")
    assert "did not return within timeout=0.5 s" in failure.message
    assert failure.problem["x"][-1] == 5


def test_errors_and_mutations_in_the_child_are_reported_as_in_process():
    def forward(x, w, spec):
        x *= 2  # in place: the caller's copy must be seen as changed
        return ref_forward(x / 2, w, spec)

    def backward(x, w, grad_y, spec):
        raise RuntimeError("no backward here")

    result = cg.verify(forward, backward, problems=[fixed_problem()], isolation="process")
    assert failure_keys(result) == {("no_mutation", "forward"), ("raised", "grad_input")}
    raised = next(f for f in result.failures if f.check == "raised")
    assert "backward raised RuntimeError: no backward here" in raised.message


def test_keyboard_interrupt_in_the_child_propagates():
    def forward(x, w, spec):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cg.verify(forward, problems=[fixed_problem()], isolation="process")


def test_a_result_that_cannot_leave_the_child_is_a_failure():
    def forward(x, w, spec):
        return (i for i in range(3))

    result = cg.verify(forward, problems=[fixed_problem()], isolation="process")
    assert failure_keys(result) == {("raised", "forward")}
    assert "cannot be sent back from the child process" in result.failures[0].message


def test_isolation_is_validated():
    with pytest.raises(ValueError, match="isolation='container'"):
        cg.verify(ref_forward, isolation="container")


def test_start_method_spawns_importable_functions_and_forks_the_rest():
    assert start_method(aborts_on_wide_inputs) == "spawn"
    assert start_method(lambda x, w, spec: x) == "fork"


def test_signal_text_names_signals_and_exit_codes():
    assert signal_text(-signal.SIGSEGV) == "signal 11 (SIGSEGV)"
    assert signal_text(3) == "exit code 3"


def test_worker_restarts_after_a_crash():
    def forward(x, w, spec):
        if x.shape[0] == 2:
            os.kill(os.getpid(), signal.SIGSEGV)
        return ref_forward(x, w, spec)

    worker = Worker(forward, {})
    try:
        big, small = fixed_problem(), fixed_problem(x_shape=(1, 3, 7, 6))
        arrays = {"x": big.x, "w": big.w}
        assert worker.call(arrays, big.resolved, 30)[:2] == ("crashed", "signal 11 (SIGSEGV)")
        outcome, value, _ = worker.call({"x": small.x, "w": small.w}, small.resolved, 30)
        assert outcome == "value" and value.shape == small.output_shape
    finally:
        worker.close()
    assert worker.process is None
