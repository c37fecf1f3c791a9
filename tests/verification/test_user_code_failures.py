"""User code that raises, hangs or breaks the protocol becomes a failure, never a crash."""

import threading
import time

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.problem import ConvProblem

from .implementations import (
    FAST,
    failure_keys,
    fixed_problem,
    ref_backward,
    ref_forward,
    reference_grads,
)


def test_user_errors_become_failures_not_crashes():
    def forward(x, w, spec):
        raise RuntimeError("shapes do not align")

    result = cg.verify(forward, ref_backward, **FAST)
    assert ("raised", "forward") in failure_keys(result)
    failure = next(f for f in result.failures if f.output == "forward")
    assert "RuntimeError: shapes do not align" in failure.message


def test_backward_returning_one_array_breaks_the_protocol():
    def backward(x, w, grad_y, spec):
        return reference_grads(x, w, grad_y, spec).input

    result = cg.verify(ref_forward, backward, **FAST)
    assert failure_keys(result) == {("raised", "grad_input")}
    assert "expected a tuple (grad_x, grad_w)" in result.failures[0].message


def test_hanging_forward_times_out():
    release = threading.Event()

    def forward(x, w, spec):
        release.wait(5)
        return cg.conv(x, w)

    start = time.perf_counter()
    result = cg.verify(forward, max_examples=5, timeout=0.2)
    release.set()
    assert ("raised", "forward") in failure_keys(result)
    assert "timeout=0.2" in result.failures[0].message
    assert time.perf_counter() - start < 4


def test_callers_seterr_raise_does_not_crash_verify_and_reaches_user_code():
    # x*w underflows to a subnormal: the oracle's own bounds multiply subnormals.
    tiny = np.full((1, 1, 3), 1e-160)
    problem = ConvProblem(tiny, tiny[:, :, :2].copy(), None, np.ones((1, 1, 2)), cg.ConvSpec())
    seen = []

    def forward(x, w, spec):
        seen.append(np.geterr()["under"])
        with np.errstate(under="ignore"):  # the user's own code expects the underflow
            return ref_forward(x, w, spec)

    def backward(x, w, grad_y, spec):
        seen.append(np.geterr()["under"])
        with np.errstate(under="ignore"):
            return ref_backward(x, w, grad_y, spec)

    with np.errstate(all="raise"):
        result = cg.verify(forward, backward, problems=[problem, fixed_problem()])
        assert np.geterr()["under"] == "raise"
    assert result.ok, str(result)
    assert set(seen) == {"raise"}


@pytest.mark.parametrize("timeout", [60.0, None])
def test_keyboard_interrupt_in_user_code_propagates(timeout):
    def forward(x, w, spec):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cg.verify(forward, ref_backward, timeout=timeout, problems=[fixed_problem()])


def test_backward_changing_its_number_of_results_is_flagged():
    calls = []

    def backward(x, w, grad_y, spec):
        calls.append(1)
        grads = ref_backward(x, w, grad_y, spec)
        return grads if len(calls) % 2 else grads[:2]

    result = cg.verify(ref_forward, backward, problems=[fixed_problem()])
    assert failure_keys(result) == {("determinism", "grad_input")}
    assert "3 values on the first call and 2" in result.failures[0].message
