"""User code that raises, hangs or breaks the protocol becomes a failure, never a crash."""

import threading
import time

import convgrad as cg

from .implementations import (
    FAST,
    failure_keys,
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
