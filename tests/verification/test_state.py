"""The state checks (`convgrad.verification.state`): a result overwritten by later calls, a
backward reading what the last forward saw, and determinism judged on independent copies."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.bounds import Precision
from convgrad.verification.calls import UserFunction
from convgrad.verification.runner import ProblemChecks
from convgrad.verification.state import check_state, other_data

from .implementations import failure_keys, fixed_problem, ref_backward, ref_forward


def _buffered(fn):
    """fn with its result copied into one buffer per shape, which is returned."""
    buffers = {}

    def wrapped(*args):
        y = np.asarray(fn(*args))
        out = buffers.setdefault(y.shape, np.empty_like(y))
        out[...] = y
        return out

    return wrapped


def test_other_data_differs_everywhere_in_shape_and_dtype():
    a = np.array([[-3, 0, 3]], dtype=np.float32)
    b = other_data(a)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, [[2, -1, -4]])


def test_a_correct_implementation_has_no_state_failure():
    result = cg.verify(ref_forward, ref_backward, problems=[fixed_problem(padding=1, stride=2)])
    assert result.ok, str(result)


def test_a_forward_returning_a_reused_buffer_fails_state():
    result = cg.verify(_buffered(ref_forward), ref_backward, problems=[fixed_problem()])
    assert failure_keys(result) == {("state", "forward")}
    assert "aliases a buffer the implementation reuses" in result.failures[0].message
    assert "return a new array" in result.failures[0].diagnosis


def test_a_backward_returning_reused_buffers_fails_state_on_each_gradient():
    def backward(x, w, grad_y, spec):
        return tuple(_buffers[j](g) for j, g in enumerate(ref_backward(x, w, grad_y, spec)))

    _buffers = [_buffered(lambda g: g) for _ in range(3)]
    result = cg.verify(ref_forward, backward, problems=[fixed_problem()])
    assert failure_keys(result) == {
        ("state", "grad_input"),
        ("state", "grad_weight"),
        ("state", "grad_bias"),
    }


def test_a_backward_using_the_x_saved_by_forward_fails_state_on_grad_weight():
    saved = {}

    def forward(x, w, spec):
        saved["x"] = x.copy()
        return ref_forward(x, w, spec)

    def backward(x, w, grad_y, spec):
        return ref_backward(saved.get("x", x), w, grad_y, spec)

    result = cg.verify(forward, backward, problems=[fixed_problem()])
    assert failure_keys(result) == {("state", "grad_weight")}
    message = result.failures[0].message
    assert "after forward on other data" in message and "cached in forward" in message


def test_a_backward_raising_after_forward_on_other_data_fails_state():
    saved = {}

    def forward(x, w, spec):
        saved["sum"] = float(x.sum())
        return ref_forward(x, w, spec)

    def backward(x, w, grad_y, spec):
        if saved["sum"] != float(x.sum()):
            raise RuntimeError("saved tensors do not match")
        return ref_backward(x, w, grad_y, spec)

    result = cg.verify(forward, backward, problems=[fixed_problem()])
    assert failure_keys(result) == {("state", "grad_input")}
    assert "RuntimeError: saved tensors do not match" in result.failures[0].message


def test_determinism_compares_copies_not_the_returned_buffer():
    rng = np.random.default_rng(1)

    def noisy(x, w, spec):
        return ref_forward(x, w, spec) + rng.standard_normal() * 1e-3

    result = cg.verify(_buffered(noisy), problems=[fixed_problem()])
    assert ("determinism", "forward") in failure_keys(result)


@pytest.mark.parametrize("backward", [None, ref_backward])
def test_check_state_adds_nothing_where_the_forward_failed(backward):
    problem = fixed_problem()
    forward = UserFunction(lambda x, w, spec: "not an array", "forward", None)
    user_backward = None if backward is None else UserFunction(backward, "backward", None)
    report = ProblemChecks(
        problem, forward, user_backward, Precision("float64"), exact=True, seed=0
    ).run()
    before = list(report.results)
    check_state(problem, forward, user_backward, report)
    assert report.results == before
