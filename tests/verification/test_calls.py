"""Calling the user's functions: copies, timeouts, exceptions, mutations, result unpacking."""

import threading
import time

import numpy as np
import pytest

from convgrad.verification.calls import (
    CallFailed,
    CallThread,
    UserFunction,
    as_array,
    call_thread,
    split_gradients,
)
from convgrad.verification.checks import check_no_mutation


def _arrays():
    return {"x": np.arange(4.0), "w": np.ones(2)}


def test_user_function_passes_copies_and_returns_the_value():
    fn = UserFunction(lambda x, w, spec: x.sum() + w.sum() + spec, "forward", 1.0)
    assert fn(_arrays(), 10) == 18.0
    assert fn.mutations == {}


def test_user_function_turns_an_exception_into_a_raised_result():
    def broken(x, w, spec):
        raise IndexError("index 7 is out of bounds")

    with pytest.raises(CallFailed) as info:
        UserFunction(broken, "forward", None)(_arrays(), None)
    result = info.value.result
    assert (result.check, result.output, result.passed) == ("raised", "forward", False)
    assert "IndexError: index 7 is out of bounds" in result.message


@pytest.mark.parametrize("timeout", [None, 1.0])
def test_user_function_calling_sys_exit_is_a_raised_result(timeout):
    def leave(x, w, spec):
        raise SystemExit(3)

    with pytest.raises(CallFailed, match="forward raised SystemExit: 3"):
        UserFunction(leave, "forward", timeout)(_arrays(), None)


def test_user_function_times_out_once_then_fails_at_once():
    def hang(x, w, spec):
        time.sleep(5)

    fn = UserFunction(hang, "backward", 0.1)
    with pytest.raises(CallFailed, match=r"did not return within timeout=0\.1") as info:
        fn(_arrays(), None)
    assert info.value.result.output == "grad_input"  # backward's failures go under its first output
    start = time.perf_counter()
    with pytest.raises(CallFailed, match="not called again"):
        fn(_arrays(), None)
    assert time.perf_counter() - start < 0.05 and fn.hung


def test_user_function_counts_mutations_of_its_arguments():
    def scale_in_place(x, w, spec):
        x *= 2
        return x

    fn = UserFunction(scale_in_place, "forward", None)
    arrays = _arrays()
    fn(arrays, None)
    fn(arrays, None)
    assert fn.mutations == {"x": 2}
    assert np.array_equal(arrays["x"], np.arange(4.0))  # the caller's array is untouched
    result = check_no_mutation(fn)
    assert not result.passed and "x (in 2 call(s))" in result.message
    assert check_no_mutation(UserFunction(lambda x, w, s: x, "forward", None)).passed


@pytest.mark.parametrize("value", [None, "text", {"a": 1}])
def test_as_array_rejects_non_numeric_results(value):
    with pytest.raises(CallFailed, match="grad_input is a"):
        as_array(value, "grad_input")


def test_as_array_accepts_lists():
    assert as_array([[1.0, 2.0]], "forward").shape == (1, 2)


@pytest.mark.parametrize("value", [np.zeros((2, 2)), (np.zeros(1),), [1, 2, 3, 4], 3.0])
def test_split_gradients_rejects_what_is_not_two_or_three_gradients(value):
    with pytest.raises(CallFailed, match="expected a tuple \\(grad_x, grad_w\\)"):
        split_gradients(value)


def test_split_gradients_accepts_pairs_and_triples():
    assert len(split_gradients((1, 2))) == 2
    assert len(split_gradients([1, 2, 3])) == 3


def test_calls_with_a_timeout_run_on_one_persistent_thread():
    def where(x, w, spec):
        return threading.get_ident()

    forward = UserFunction(where, "forward", 1.0)
    backward = UserFunction(where, "backward", 1.0)
    idents = {forward(_arrays(), None), backward(_arrays(), None), forward(_arrays(), None)}
    assert len(idents) == 1
    assert idents != {threading.get_ident()}
    # Without a timeout the call runs on the caller's thread.
    assert UserFunction(where, "forward", None)(_arrays(), None) == threading.get_ident()


def test_a_stuck_call_thread_is_replaced_for_later_functions():
    release = threading.Event()
    hanging = UserFunction(lambda x, w, spec: release.wait(5), "forward", 0.05)
    before = call_thread()
    try:
        with pytest.raises(CallFailed, match=r"did not return within timeout=0\.05"):
            hanging(_arrays(), None)
        assert before.stuck
        # Not queued behind the hung call: it runs at once on a new thread.
        assert UserFunction(lambda x, w, spec: 7, "backward", 0.5)(_arrays(), None) == 7
        assert call_thread() is not before
    finally:
        release.set()


def test_the_call_thread_ends_when_idle_and_starts_again():
    worker = CallThread()
    worker.IDLE = 0.05
    box = []
    worker.submit(lambda: box.append(threading.get_ident())).wait(1)
    first = worker._thread
    deadline = time.perf_counter() + 2
    while worker._thread is not None and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert worker._thread is None and not first.is_alive()
    assert worker.submit(lambda: box.append(1)).wait(1)
    assert box[1] == 1
