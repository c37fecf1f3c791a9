"""The layout check (`convgrad.verification.layout`): the same problem in Fortran order,
strided, negative-stride and read-only arrays must give the same result."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv
from convgrad.verification.bounds import Precision
from convgrad.verification.calls import UserFunction
from convgrad.verification.checks import CheckResult
from convgrad.verification.diagnosis import diagnose
from convgrad.verification.layout import LAYOUTS, as_layout, check_layouts, layout_for
from convgrad.verification.problem import ConvProblem
from convgrad.verification.runner import ProblemChecks

from .implementations import failure_keys, fixed_problem, ref_backward, ref_forward

A = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_as_layout_keeps_values_dtype_and_shape_in_new_memory(layout):
    b = as_layout(A, layout)
    np.testing.assert_array_equal(b, A)
    assert b.dtype == A.dtype and not np.shares_memory(b, A)


def test_each_layout_has_its_memory_properties():
    fortran, strided, negative, frozen = (as_layout(A, name) for name in LAYOUTS)
    assert fortran.flags.f_contiguous and not fortran.flags.c_contiguous
    assert strided.strides[-1] == 2 * A.itemsize and not strided.flags.c_contiguous
    assert all(s < 0 for s in negative.strides)
    assert not frozen.flags.writeable and frozen.flags.c_contiguous
    assert np.all(np.isnan(strided.base[..., 1::2]))


def test_strided_integer_layout_fills_the_gaps_with_minus_one():
    b = as_layout(np.zeros((2, 3), dtype=np.int64), "strided")
    np.testing.assert_array_equal(b.base, [[0, -1] * 3] * 2)


def test_as_layout_rejects_an_unknown_layout():
    with pytest.raises(ValueError, match=r"layout='transposed' is not one of \('fortran'"):
        as_layout(A, "transposed")


def test_layout_for_is_a_function_of_shapes_and_spec():
    problems = [fixed_problem(x_shape=(1, 3, n, 6)) for n in range(3, 11)]
    chosen = [layout_for(p) for p in problems]
    assert chosen == [layout_for(p) for p in problems]
    assert set(chosen) <= set(LAYOUTS) and len(set(chosen)) >= 2


def _fortran_blind(x, w, spec):
    # Memory-order flattening reshaped as C order: right only for C-contiguous x.
    x = np.asarray(x)
    return ref_forward(x.ravel(order="K").reshape(x.shape), w, spec)


def _layout_failures(forward, backward, problem, layouts=tuple(LAYOUTS)):
    """The failures check_layouts adds after the problem's own checks (all passing here)."""
    user_forward = UserFunction(forward, "forward", None)
    user_backward = UserFunction(backward, "backward", None)
    report = ProblemChecks(
        problem, user_forward, user_backward, Precision("float64"), exact=True, seed=0
    ).run()
    assert report.failures == []
    check_layouts(problem, user_forward, user_backward, report, layouts)
    return report.failures


def test_a_forward_assuming_c_order_fails_layout_naming_fortran():
    (failure,) = _layout_failures(_fortran_blind, ref_backward, fixed_problem())
    assert (failure.check, failure.output) == ("layout", "forward")
    assert "Fortran-order arrays" in failure.message
    assert "assumes C-contiguous" in failure.message
    assert _layout_failures(_fortran_blind, ref_backward, fixed_problem(), ("strided",)) == []


def test_verify_reports_the_layout_of_the_problem():
    problem = fixed_problem()
    result = cg.verify(_fortran_blind, ref_backward, problems=[problem])
    assert result.ok == (layout_for(problem) not in ("fortran",))
    assert "np.ascontiguousarray" in diagnose(
        problem, CheckResult("layout", "forward", False, "m"), None, None
    )


def test_a_backward_writing_scratch_into_grad_y_fails_no_mutation_on_read_only_arrays():
    def backward(x, w, grad_y, spec):
        grad_y *= 2.0
        grads = ref_backward(x, w, grad_y / 2.0, spec)
        grad_y /= 2.0
        return grads

    (failure,) = _layout_failures(ref_forward, backward, fixed_problem(), ("read_only",))
    assert (failure.check, failure.output) == ("no_mutation", "grad_input")
    assert failure.message.startswith("backward writes into its input array(s) grad_y: with read")


def test_the_search_finds_a_layout_bug_at_default_settings():
    result = cg.verify(_fortran_blind, max_examples=30)
    assert ("layout", "forward") in failure_keys(result)


def test_from_torch_accepts_every_layout_even_of_size_one_dims():
    forward, backward = from_torch(torch_conv)
    one = np.ones((1, 1, 1, 1))
    tiny = ConvProblem(one, one.copy(), None, one.copy(), cg.ConvSpec())
    for problem in (tiny, fixed_problem(padding=1, stride=2)):
        assert _layout_failures(forward, backward, problem) == []
