import json
import sys
import threading
import time
import types

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import convgrad as cg
from convgrad._diagnose import explain
from convgrad.adapters.torch import from_torch, torch_conv
from convgrad.problem import ConvProblem
from convgrad.verify import SCHEMA_VERSION, Failure, VerifyResult

FAST = {"max_examples": 25}


def _kw(spec, **changes):
    kw = {
        "padding": [tuple(p) for p in spec.padding],
        "stride": spec.stride,
        "dilation": spec.dilation,
        "groups": spec.groups,
        "flip": spec.flip,
    }
    kw.update(changes)
    return kw


def ref_forward(x, w, spec):
    return cg.conv(x, w, **_kw(spec)).astype(x.dtype)


def ref_backward(x, w, grad_y, spec):
    g = cg.conv_backward(x, w, grad_y, **_kw(spec))
    return tuple(a.astype(x.dtype) for a in g)


def _grads(x, w, grad_y, spec, **changes):
    return cg.conv_backward(x, w, grad_y, **_kw(spec, **changes))


def _keys(result):
    return {(f.check, f.output) for f in result.failures}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_as_implementation_passes_every_check(seed):
    result = cg.verify(
        ref_forward, ref_backward, ndim=(1, 2), flip=(False, True), seed=seed, **FAST
    )
    assert result.ok, str(result)
    assert result.examples == 25
    checks = {r["check"] for r in result.ratios}
    assert {"exact", "value", "adjoint", "finite_difference", "linearity"} <= checks
    assert all(r["ratio"] is None or r["ratio"] <= 1 for r in result.ratios)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_passes_every_check(dtype):
    forward, backward = from_torch(torch_conv)
    result = cg.verify(
        forward,
        backward,
        ndim=(1, 2, 3),
        dtype=dtype,
        padding=("valid", "same", "full", "same_lower", "explicit"),
        stride=(1, 2, 3),
        seed=3,
        **FAST,
    )
    assert result.ok, str(result)


@pytest.mark.parametrize("grad_y", [0.0625, 0.077, 1.0])
def test_underflowing_products_with_a_small_grad_y_are_no_false_alarm(grad_y):
    # Found by the zoo's 20-seed run: x*w underflows to 0, so the central difference is 0 while
    # <v, grad_input> is about 1e-251; the tolerance once rounded to 0 when |grad_y| < 1.
    tiny = np.array([[[3.641165109815949e-250]]])
    problem = ConvProblem(tiny, tiny.copy(), None, np.array([[[grad_y]]]), cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


def test_float16_reference_passes_with_float16_bounds():
    result = cg.verify(ref_forward, ref_backward, dtype="float16", **FAST)
    assert result.ok, str(result)


def test_flipped_forward_fails_value_on_forward_with_rotation_explained():
    def forward(x, w, spec):
        return cg.conv(x, w, **_kw(spec, flip=not spec.flip))

    result = cg.verify(forward, max_examples=25, max_failures=1)
    assert not result.ok
    (failure,) = result.failures
    assert failure.output == "forward" and failure.check in ("value", "exact")
    assert "rotated 180°" in failure.explanation
    # shrunk: a kernel of 2 taps along one dim is the smallest that shows a rotation
    assert np.prod(failure.problem["w"]) == 2


def test_averaged_bias_gradient_is_named():
    def backward(x, w, grad_y, spec):
        g = _grads(x, w, grad_y, spec)
        return g.input, g.weight, g.bias / grad_y[:, 0].size

    result = cg.verify(ref_forward, backward, **FAST)
    assert _keys(result) == {("exact", "grad_bias")}
    assert "averaged instead of summed" in result.failures[0].explanation


def test_grad_weight_with_x_shape_fails_shape_with_derivation():
    def backward(x, w, grad_y, spec):
        g = _grads(x, w, grad_y, spec)
        return g.input, np.zeros((w.shape[0], w.shape[1], *x.shape[2:]))

    result = cg.verify(ref_forward, backward, padding="valid", max_examples=25, max_failures=1)
    (failure,) = result.failures
    assert (failure.check, failure.output) == ("shape", "grad_weight")
    assert tuple(failure.got_shape[2:]) != tuple(failure.expected_shape[2:])
    assert "x's spatial shape" in failure.explanation
    assert "valid correlation of the padded x" in failure.explanation


def test_grad_input_with_flipped_kernel_fails_value_and_an_identity_on_grad_input():
    def backward(x, w, grad_y, spec):
        flipped = _grads(x, w, grad_y, spec, flip=not spec.flip)
        return flipped.input, _grads(x, w, grad_y, spec).weight

    result = cg.verify(ref_forward, backward, max_examples=25, max_failures=2)
    assert {f.output for f in result.failures} == {"grad_input"}
    checks = {f.check for f in result.failures}
    assert checks & {"value", "exact"} and checks & {"adjoint", "finite_difference"}


def test_user_errors_become_failures_not_crashes():
    def forward(x, w, spec):
        raise RuntimeError("shapes do not align")

    result = cg.verify(forward, ref_backward, **FAST)
    assert ("raised", "forward") in _keys(result)
    failure = next(f for f in result.failures if f.output == "forward")
    assert "RuntimeError: shapes do not align" in failure.message


def test_backward_returning_one_array_breaks_the_protocol():
    def backward(x, w, grad_y, spec):
        return _grads(x, w, grad_y, spec).input

    result = cg.verify(ref_forward, backward, **FAST)
    assert _keys(result) == {("raised", "grad_input")}
    assert "expected a tuple (grad_x, grad_w)" in result.failures[0].message


def test_hanging_forward_times_out():
    release = threading.Event()

    def forward(x, w, spec):
        release.wait(5)
        return cg.conv(x, w)

    start = time.perf_counter()
    result = cg.verify(forward, max_examples=5, timeout=0.2)
    release.set()
    assert ("raised", "forward") in _keys(result)
    assert "timeout=0.2" in result.failures[0].message
    assert time.perf_counter() - start < 4


@pytest.mark.parametrize(
    ("forward", "key"),
    [
        (lambda x, w, s: None, ("raised", "forward")),
        (lambda x, w, s: cg.conv(x, w, **_kw(s)).astype(np.float32), ("dtype", "forward")),
        (lambda x, w, s: cg.conv(x, w, **_kw(s)) * np.nan, ("finite", "forward")),
        (lambda x, w, s: cg.conv(x, w, **_kw(s)) + 1.0, ("linearity", "forward")),
        (
            lambda x, w, s: cg.conv(x, w, **_kw(s)) + np.random.default_rng().random() * 1e-9,
            ("determinism", "forward"),
        ),
    ],
    ids=["none", "float32", "nan", "affine", "random"],
)
def test_forward_mistakes_are_named(forward, key):
    result = cg.verify(forward, **FAST)
    assert key in _keys(result), str(result)


def test_in_place_mutation_is_caught():
    def forward(x, w, spec):
        x /= 1.0 + np.abs(x).max()
        return cg.conv(x, w, **_kw(spec))

    result = cg.verify(forward, **FAST)
    assert ("no_mutation", "forward") in _keys(result)


def test_backward_writing_into_grad_y_is_caught_under_grad_input():
    def backward(x, w, grad_y, spec):
        grads = ref_backward(x, w, grad_y, spec)
        grad_y[...] = 0
        return grads

    result = cg.verify(ref_forward, backward, **FAST)
    assert _keys(result) == {("no_mutation", "grad_input")}
    assert "backward modified its input array(s) in place: grad_y" in result.failures[0].message


def test_forward_only_checks_no_gradients():
    result = cg.verify(ref_forward, **FAST)
    assert result.ok
    assert {r["output"] for r in result.ratios} == {"forward"}


def _big_problem(rng):
    x = rng.standard_normal((1, 3, 128, 128))
    w = rng.standard_normal((32, 3, 3, 3))
    return ConvProblem(x, w, None, rng.standard_normal((1, 32, 126, 126)), cg.ConvSpec())


def test_fixed_problem_of_realistic_size_is_checked_quickly():
    forward, backward = from_torch(torch_conv)
    problem = _big_problem(np.random.default_rng(0))
    cg.verify(forward, backward, problems=[problem])  # warm-up: imports, BLAS threads
    start = time.perf_counter()
    result = cg.verify(forward, backward, problems=[problem])
    elapsed = time.perf_counter() - start
    assert result.ok and result.examples == 1
    assert elapsed < 2.0, elapsed


def test_reproduce_snippet_rebuilds_the_failing_problem():
    def backward(x, w, grad_y, spec):
        g = _grads(x, w, grad_y, spec)
        return g.input, g.weight / x.shape[0]

    result = cg.verify(ref_forward, backward, max_examples=25, max_failures=1)
    (failure,) = result.failures
    namespace = {"forward": ref_forward, "backward": backward, "print": lambda r: None}
    exec(failure.reproduce.replace("print(", "result = ("), namespace)
    again = namespace["result"]
    assert (failure.check, failure.output) in _keys(again)
    assert "averaged over the batch" in failure.explanation
    assert failure.problem["x"][0] == 2  # the smallest batch that shows a batch mean


def test_result_serialises_with_schema_version():
    def backward(x, w, grad_y, spec):
        return _grads(x, w, grad_y, spec, flip=not spec.flip)[:2]

    result = cg.verify(ref_forward, backward, max_examples=10, max_failures=1)
    data = json.loads(result.to_json())
    assert data["schema_version"] == SCHEMA_VERSION and data["ok"] is False
    assert data["failures"][0]["output"] == "grad_input"
    assert data["failures"][0]["bound_ratio"] is None  # inf under an exact (zero) bound
    assert data["settings"]["max_examples"] == 10
    with pytest.raises(cg.VerificationError, match="FAILED") as info:
        result.raise_for_failures()
    assert isinstance(info.value, AssertionError)
    assert "grad_input" in str(result) and "reproduce:" in str(result)


def test_ok_result_does_not_raise_and_says_so():
    result = VerifyResult((), 3, ({"check": "value", "output": "forward", "ratio": 0.25},))
    result.raise_for_failures()
    assert str(result) == (
        "convgrad.verify: all checks passed on 3 problem(s); worst error/bound 0.25"
    )


def test_to_html_hands_the_dict_to_the_report(monkeypatch, tmp_path):
    calls = []
    fake = types.ModuleType("convgrad.report")
    fake.render_html = lambda data, path: calls.append((data, path)) or path
    monkeypatch.setitem(sys.modules, "convgrad.report", fake)
    result = VerifyResult((), 1)
    assert result.to_html(tmp_path / "r.html") == tmp_path / "r.html"
    assert calls[0][0]["schema_version"] == SCHEMA_VERSION


def test_failure_to_dict_replaces_non_finite_numbers():
    f = Failure("exact", "forward", {}, (1,), (1,), 1.0, float("inf"), (0,), "m", "e", "r")
    assert f.to_dict()["bound_ratio"] is None and f.to_dict()["index"] == [0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_examples": 0}, ValueError, "max_examples=0"),
        ({"timeout": -1}, ValueError, "timeout=-1"),
        ({"dtype": "int8"}, ValueError, "dtype='int8'"),
        ({"safety": 0.5}, ValueError, "safety=0.5"),
        ({"exact": 1}, TypeError, "exact=1"),
        ({"problems": [1]}, TypeError, r"problems\[0\]"),
        ({"padding": ("bogus",)}, ValueError, "bogus"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        cg.verify(ref_forward, **kwargs)


def test_non_callable_implementations_raise_type_error():
    with pytest.raises(TypeError, match="forward="):
        cg.verify(3)
    with pytest.raises(TypeError, match="backward="):
        cg.verify(ref_forward, "nope")


def _fixed_problem(padding="valid", stride=1, x_shape=(2, 3, 7, 6), w_shape=(3, 3, 2, 3)):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    spec = cg.ConvSpec(padding=padding, stride=stride)
    shape = cg.output_shape(x.shape, w.shape, padding=padding, stride=stride)
    return ConvProblem(x, w, None, rng.standard_normal(shape), spec)


def _explanation(forward, backward, problem, output):
    result = cg.verify(forward, backward, problems=[problem])
    return next(f.explanation for f in result.failures if f.output == output)


def test_diagnosis_of_a_scaled_grad_weight():
    def backward(x, w, grad_y, spec):
        g = _grads(x, w, grad_y, spec)
        return g.input, 3 * g.weight

    why = _explanation(ref_forward, backward, _fixed_problem(), "grad_weight")
    assert "right answer times 3" in why


def test_diagnosis_of_a_grad_input_without_stride_dilation():
    def backward(x, w, grad_y, spec):
        full = cg.conv_transpose(grad_y, w)  # stride ignored: grad_y used as is
        grad_x = np.zeros(x.shape)
        rows, cols = min(full.shape[2], x.shape[2]), min(full.shape[3], x.shape[3])
        grad_x[:, :, :rows, :cols] = full[:, :, :rows, :cols]
        return grad_x, _grads(x, w, grad_y, spec).weight

    problem = _fixed_problem(stride=2, x_shape=(1, 3, 9, 9))
    why = _explanation(ref_forward, backward, problem, "grad_input")
    assert "not dilated by the stride" in why


def test_diagnosis_of_same_padded_on_the_wrong_side():
    def forward(x, w, spec):
        return cg.conv(x, w, padding="same_lower")

    why = _explanation(forward, None, _fixed_problem("same", w_shape=(3, 3, 2, 2)), "forward")
    assert "padded on the wrong side" in why


def test_diagnosis_of_float32_rounding():
    def forward(x, w, spec):
        return cg.conv(x, w).astype(np.float32).astype(np.float64)

    assert "float32" in _explanation(forward, None, _fixed_problem(), "forward")


def test_diagnosis_of_channels_not_swapped_in_grad_input():
    def backward(x, w, grad_y, spec):
        g = _grads(x, np.swapaxes(w, 0, 1), grad_y, spec)
        return g.input, _grads(x, w, grad_y, spec).weight

    why = _explanation(ref_forward, backward, _fixed_problem(), "grad_input")
    assert "in/out channels were not swapped" in why


def test_underflow_in_the_finite_difference_is_no_false_alarm():
    # Regression: x = w = 1e-300 make every forward product underflow to 0 while the gradient
    # (w * grad_y) does not; the tolerance must carry the underflow's absolute error.
    tiny = np.full((1, 1, 1), 1e-300)
    problem = ConvProblem(tiny, tiny.copy(), None, np.ones((1, 1, 1)), cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


_SCALE_RNG = np.random.default_rng(0)
_UNIT = tuple(_SCALE_RNG.standard_normal(s) for s in ((1, 2, 5), (2, 2, 3), (1, 2, 3)))


@settings(max_examples=30)
@example(x_exp=-514, grad_y_exp=-38)
@example(x_exp=508, grad_y_exp=406)
@given(x_exp=st.integers(-1074, 508), grad_y_exp=st.integers(-1074, 1020))
def test_reference_passes_every_identity_across_the_float64_range(x_exp, grad_y_exp):
    # x, w scaled by 2**x_exp and grad_y by 2**grad_y_exp, kept where every output is finite
    # (|y| < 2**(2 x_exp + 6)) and sum|grad_y| too. The two examples failed the adjoint check
    # before its dot products were scaled: the sides underflowed differently under a tolerance
    # rounded to 0, or overflowed to inf - inf.
    assume(x_exp + grad_y_exp <= 1016)
    x, w, grad_y = (np.ldexp(a, e) for a, e in zip(_UNIT, (x_exp, x_exp, grad_y_exp), strict=True))
    problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)


@pytest.mark.parametrize(
    ("x", "grad_y"),
    [(3.641165109815949e-250, 0.0625), (6.46799736851946e-162, 0.0625), (1e120, 1e120)],
)
def test_adjoint_identity_of_one_product_at_the_ends_of_the_range_is_no_false_alarm(x, grad_y):
    # x * w underflows (or x * w * grad_y overflows) while every output is finite.
    problem = ConvProblem(
        np.array([[[x]]]), np.array([[[x]]]), None, np.array([[[grad_y]]]), cg.ConvSpec()
    )
    result = cg.verify(ref_forward, ref_backward, problems=[problem])
    assert result.ok, str(result)
    assert {r["check"] for r in result.ratios} >= {"adjoint", "finite_difference"}


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # _diagnose's variants
def test_adjoint_failure_far_out_of_range_is_reported_in_powers_of_two():
    x, w, grad_y = (np.ldexp(a, 500) for a in _UNIT)

    def backward(x, w, grad_y, spec):
        g = _grads(x, w, grad_y, spec)
        return 3 * g.input, g.weight

    problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    failure = next(
        f
        for f in cg.verify(ref_forward, backward, problems=[problem]).failures
        if f.check == "adjoint"
    )
    assert failure.output == "grad_input" and failure.bound_ratio > 1e10
    assert "= 0.706126*2**1503 but" in failure.message and "inf" not in failure.message


def _shape_explanation(output: str, got: tuple, x_shape, w_shape, **spec) -> str:
    x, w = np.ones(x_shape), np.ones(w_shape)
    y_shape = cg.output_shape(x.shape, w.shape, **{"padding": "valid", "stride": 1, **spec})
    problem = ConvProblem(x, w, None, np.ones(y_shape), cg.ConvSpec(**spec))
    expected = {
        "forward": y_shape,
        "grad_input": x.shape,
        "grad_weight": w.shape,
        "grad_bias": (w.shape[0],),
    }[output]
    result = cg.CheckResult("shape", output, False, "", expected, got)
    return explain(problem, result, None, None)


def test_shape_diagnosis_of_grad_input_losing_the_unreached_rows():
    # I=8, K=3, s=2, pads (1, 1): O=4 and the last r=1 row is reached by no window.
    why = _shape_explanation("grad_input", (1, 1, 7), (1, 1, 8), (1, 1, 3), padding=1, stride=2)
    assert "cropped by lo and hi (the r unreached rows lost)" in why
    assert "output_padding = r" in why
    assert "'valid' mode" not in why


def test_shape_diagnosis_of_a_full_mode_grad_weight_with_padding():
    # padded x 6+2=8, O=8-3+1=6: the 'full' correlation has 8+6-1=13 lags, not K=3.
    why = _shape_explanation("grad_weight", (2, 1, 13), (1, 1, 6), (2, 1, 3), padding=1)
    assert "a correlation in 'full' mode of the padded x with grad_y" in why
    assert "correlate in 'valid' mode, not 'full'" in why


def test_shape_diagnosis_of_a_forward_ignoring_dilation():
    # dilation 3, K=3: extent 7, O=10-7+1=4; ignoring it gives 10-3+1=8.
    why = _shape_explanation("forward", (1, 1, 8), (1, 1, 10), (1, 1, 3), dilation=3)
    assert "the dilation was ignored" in why
    assert "stride was ignored" not in why


def test_shape_diagnosis_of_a_grad_bias_of_the_wrong_rank():
    x, w = np.ones((2, 1, 5, 5)), np.ones((3, 1, 2, 2))
    why = _shape_explanation("grad_bias", (2, 3), x.shape, w.shape)
    assert "grad_y.sum(axis=(0, 2, 3))" in why
    assert "keep the batch" not in why


def _bias_problem(dtype=np.float64) -> ConvProblem:
    rng = np.random.default_rng(5)
    x = rng.integers(-4, 5, (2, 2, 5, 4)).astype(dtype)
    w = rng.integers(-4, 5, (4, 1, 3, 2)).astype(dtype)
    b = np.array([1, -2, 0, 3], dtype=dtype)
    spec = cg.ConvSpec(padding="same", stride=(2, 1), groups=2)
    shape = cg.output_shape(x.shape, w.shape, padding="same", stride=(2, 1), groups=2)
    return ConvProblem(x, w, b, rng.integers(-4, 5, shape).astype(dtype), spec)


def test_check_outputs_passes_the_reference_exactly_on_integer_data_with_bias():
    p = _bias_problem()
    grads = cg.conv_backward(p.x, p.w, p.grad_y, b=p.b, **p.kwargs)
    result = cg.check_outputs(
        p,
        forward=cg.conv(p.x, p.w, p.b, **p.kwargs),
        grad_input=grads.input,
        grad_weight=grads.weight.tolist(),
        grad_bias=grads.bias,
    )
    assert result.ok and result.examples == 1, str(result)
    assert [(r["check"], r["output"], r["ratio"]) for r in result.ratios] == [
        ("exact", output, 0.0) for output in ("forward", "grad_input", "grad_weight", "grad_bias")
    ]
    assert result.settings == {
        "dtype": "float64",
        "safety": 1.0,
        "checked": list(cg.checks.OUTPUTS),
    }


def test_check_outputs_judges_a_wrong_gradient_exactly_as_verify_does():
    p = _fixed_problem(padding="same", stride=2)
    g = _grads(p.x, p.w, p.grad_y, p.resolved)

    def backward(x, w, grad_y, spec):
        return g.input, 2 * g.weight

    found = cg.verify(ref_forward, backward, problems=[p]).failures
    from_verify = next(f for f in found if f.check == "value")
    (failure,) = cg.check_outputs(p, grad_input=g.input, grad_weight=2 * g.weight).failures
    assert failure == from_verify
    assert (failure.check, failure.output) == ("value", "grad_weight")
    assert "right answer times 2" in failure.explanation
    assert "cg.verify(forward, backward, problems=[problem])" in failure.reproduce


@pytest.mark.parametrize(
    ("output", "damage", "check"),
    [
        ("forward", lambda a: a.astype(np.float32), "dtype"),
        ("grad_input", lambda a: a[..., :-1], "shape"),
        ("grad_weight", lambda a: np.where(a == a.flat[0], np.inf, a), "finite"),
        ("grad_bias", lambda a: {"not": "an array"}, "raised"),
        ("forward", lambda a: a + 1, "exact"),
    ],
)
def test_check_outputs_reports_the_first_failing_check_of_each_output(output, damage, check):
    p = _bias_problem()
    grads = cg.conv_backward(p.x, p.w, p.grad_y, b=p.b, **p.kwargs)
    right = {
        "forward": cg.conv(p.x, p.w, p.b, **p.kwargs),
        "grad_input": grads.input,
        "grad_weight": grads.weight,
        "grad_bias": grads.bias,
    }
    result = cg.check_outputs(p, **{**right, output: damage(right[output])})
    assert [(f.check, f.output) for f in result.failures] == [(check, output)]
    assert result.failures[0].problem == p.describe()


def test_check_outputs_holds_real_data_to_the_rounding_bound_scaled_by_safety():
    p = _fixed_problem()
    y = cg.conv(p.x, p.w, **p.kwargs)
    assert cg.check_outputs(p, forward=y * (1 + 2.0**-52)).ok
    off = y + np.where(np.abs(y) == np.abs(y).max(), 2e-14 * np.abs(y).max(), 0.0)
    (failure,) = cg.check_outputs(p, forward=off).failures
    assert failure.check == "value" and 1 < failure.bound_ratio < 64
    assert cg.check_outputs(p, forward=off, safety=64).ok


def test_check_outputs_judges_exact_integer_data_as_float64():
    p = _bias_problem(dtype=np.int64)
    y = cg.conv(p.x, p.w, p.b, **p.kwargs)
    assert y.dtype == np.int64
    assert cg.check_outputs(p, forward=y.astype(np.float64)).ok
    (failure,) = cg.check_outputs(p, forward=y).failures
    assert failure.check == "dtype" and "for float64 data" in failure.message


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((np.ones((1, 1, 3)),), {"forward": np.ones((1, 1, 3))}, TypeError, "problem=.*ndarray"),
        ((), {}, ValueError, "needs at least one of forward, .*; all are None"),
        ((), {"forward": np.ones(1), "safety": 0.5}, ValueError, "safety=0.5 must be .*>= 1"),
        ((), {"forward": np.ones(1), "safety": "2"}, TypeError, "safety='2' must be a real"),
    ],
)
def test_check_outputs_bad_arguments_raise(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        cg.check_outputs(*(args or (_fixed_problem(),)), **kwargs)
