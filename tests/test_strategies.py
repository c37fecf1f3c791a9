"""convgrad.strategies: arguments validated at call time; draws consistent, within the requested
space, covering every mode/dtype/data kind, and shrinking to small problems."""

import inspect
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import convgrad as cg
from convgrad.shapes import resolve
from convgrad.spec import PADDING_MODES, ConvSpec
from convgrad.strategies import DTYPES, PADDINGS, conv_problems, conv_specs
from convgrad.verification.problem import ConvProblem
from convgrad.verification.space import DEFAULT_SPACE

FIND = settings(max_examples=2000, database=None)
WHOLE_SPACE = {
    "padding": PADDINGS,
    "stride": (1, 2, 3),
    "flip": (False, True),
    "bias": (False, True),
}


def _cost(problem):
    """The forward's multiply-adds: N * C_out * (C_in / g) * prod(K) * prod(O)."""
    return problem.grad_y.size * int(np.prod(problem.w.shape[1:]))


@settings(max_examples=60, database=None)
@given(
    conv_problems(
        ndim=(1, 2),
        padding="valid",
        stride=(1, 2),
        dilation=(1, 2),
        groups=1,
        max_channels=8,
        max_kernel=11,
        max_side=70,
        max_cost=5000,
    )
)
def test_max_cost_bounds_the_forward_multiply_adds(problem):
    assert _cost(problem) <= 5000


def test_max_cost_still_reaches_long_sides_and_large_kernels():
    strategy = conv_problems(ndim=2, padding="same", max_kernel=11, max_side=70, max_cost=2**17)
    assert max(find(strategy, lambda p: max(p.x.shape[2:]) > 64, settings=FIND).x.shape) > 64
    assert max(find(strategy, lambda p: max(p.w.shape[2:]) >= 11, settings=FIND).w.shape) == 11


def _stride_dilation(problem):
    return problem.resolved.stride, problem.resolved.dilation


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ndim": 4}, ValueError, r"ndim: 4 spatial dims; convgrad handles 1, 2 or 3"),
        ({"ndim": (1, 0)}, ValueError, r"ndim: 0 must be >= 1"),
        ({"ndim": 1.0}, TypeError, r"ndim: 1.0 must be an int \(not float\)"),
        ({"ndim": ()}, ValueError, r"ndim=\(\) must list at least one allowed value"),
        ({"padding": ("valid", "SAME")}, ValueError, r"padding: 'SAME' is not one of \('valid'"),
        ({"padding": 1}, ValueError, r"padding: 1 is not one of"),
        ({"stride": (1, 0)}, ValueError, r"stride: 0 must be >= 1"),
        ({"stride": True}, TypeError, r"stride: True must be an int \(not bool\)"),
        ({"dilation": "2"}, TypeError, r"dilation: '2' must be an int \(not str\)"),
        ({"groups": -1}, ValueError, r"groups: -1 must be >= 1"),
        ({"flip": 0}, TypeError, r"flip: 0 must be a bool"),
        ({"max_pad": -1}, ValueError, r"max_pad=-1 must be >= 0"),
        ({"padding_mode": "reflection"}, ValueError, r"padding_mode: 'reflection' is not one"),
        ({"padding_mode": ()}, ValueError, r"padding_mode=\(\) must list at least one"),
    ],
)
def test_conv_specs_validates_arguments_before_drawing(kwargs, error, message):
    with pytest.raises(error, match=message):
        conv_specs(**kwargs)
    if "max_pad" not in kwargs:
        with pytest.raises(error, match=message):
            conv_problems(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"dtype": "float128"}, ValueError, r"dtype: 'float128' is not one of \('float64'"),
        ({"dtype": np.float64}, ValueError, r"dtype: .* is not one of"),
        ({"data": "random"}, ValueError, r"data: 'random' is not one of \('integer', 'real'\)"),
        ({"bias": "yes"}, TypeError, r"bias: 'yes' must be a bool"),
        ({"max_batch": 0}, ValueError, r"max_batch=0 must be >= 1"),
        ({"max_channels": 2.5}, TypeError, r"max_channels=2.5 must be an int"),
        ({"max_kernel": 0}, ValueError, r"max_kernel=0 must be >= 1"),
        ({"max_side": False}, TypeError, r"max_side=False must be an int"),
        ({"padding_mode": ("zeros", 0)}, ValueError, r"padding_mode: 0 is not one of"),
        ({"max_cost": 0}, ValueError, r"max_cost=0 must be >= 1"),
        (
            {"groups": (1, 4), "max_channels": 3},
            ValueError,
            r"groups=\(1, 4\) allows 4 groups but max_channels=3; every group needs",
        ),
        (
            {"dtype": "int64", "data": "real"},
            ValueError,
            r"dtype='int64' with data='real': integer dtypes hold only 'integer' data",
        ),
    ],
)
def test_conv_problems_validates_arguments_before_drawing(kwargs, error, message):
    with pytest.raises(error, match=message):
        conv_problems(**kwargs)


@given(conv_specs(ndim=2, padding=("same", "explicit"), stride=(1, 3), dilation=2, groups=(2, 3)))
def test_conv_specs_draw_within_the_requested_space(spec):
    assert isinstance(spec, ConvSpec)
    assert spec.mode in ("same", "explicit")
    assert len(spec.stride) == 2 and set(spec.stride) <= {1, 3}
    assert spec.dilation == (2, 2)
    assert spec.groups in (2, 3)
    if spec.mode == "explicit":
        assert len(spec.padding) == 2
        assert all(0 <= p <= 2 for pair in spec.padding for p in pair)


@settings(max_examples=60)
@given(
    conv_problems(
        ndim=(2, 3),
        padding=("valid", "full", "explicit"),
        stride=(2, 3),
        dilation=(1, 2),
        groups=(1, 3),
        flip=True,
        dtype=("float32", "object"),
        data="integer",
        bias=True,
        max_batch=3,
        max_channels=6,
        max_kernel=3,
        max_side=6,
    )
)
def test_conv_problems_draw_within_the_requested_space(problem):
    assert isinstance(problem, ConvProblem)
    x, w, b, gy = problem.x, problem.w, problem.b, problem.grad_y
    assert problem.ndim in (2, 3)
    assert problem.spec.mode in ("valid", "full", "explicit")
    stride, dilation = _stride_dilation(problem)
    assert set(stride) <= {2, 3} and set(dilation) <= {1, 2}
    assert problem.spec.groups in (1, 3) and problem.spec.flip is True
    assert 1 <= x.shape[0] <= 3
    assert x.shape[1] % problem.spec.groups == 0 and w.shape[0] % problem.spec.groups == 0
    assert x.shape[1] <= 6 and w.shape[0] <= 6
    assert all(1 <= k <= 3 for k in w.shape[2:])
    assert all(1 <= i <= 6 for i in x.shape[2:])
    assert b is not None and b.shape == (w.shape[0],)
    assert x.dtype == w.dtype == b.dtype == gy.dtype
    assert x.dtype in (np.float32, object)
    for a in (x, w, b, gy):
        values = a.ravel().tolist()
        assert all(int(v) == v and -3 <= v <= 3 for v in values)
        if a.dtype == object:
            assert all(type(v) is int for v in values)
    assert gy.shape == cg.conv(x, w, b, **problem.kwargs).shape


@settings(max_examples=30)
@given(conv_problems(dtype=("float16", "object"), data="real", ndim=1))
def test_real_data_lies_in_unit_interval(problem):
    for a in (problem.x, problem.w, problem.grad_y):
        values = a.ravel().tolist()
        assert all(-1 <= v <= 1 for v in values)
        if a.dtype == object:
            assert all(isinstance(v, (int, Fraction)) for v in values)
        else:
            assert a.dtype == np.float16 and np.isfinite(a).all()


def test_minimal_problem_is_the_smallest_layer():
    problem = find(conv_problems(ndim=(1, 2, 3), bias=(False, True)), lambda p: True, settings=FIND)
    assert problem.x.shape == problem.w.shape == problem.grad_y.shape == (1, 1, 1)
    assert problem.spec == ConvSpec(padding="valid", stride=(1,), dilation=(1,))
    assert problem.b is None
    assert problem.x.dtype == np.float64
    assert problem.x.tolist() == [[[0.0]]]


def test_shrinks_to_the_smallest_input_that_gives_output_one():
    problem = find(
        conv_problems(padding="valid", ndim=1, dilation=2),
        lambda p: p.w.shape[2] == 4,
        settings=FIND,
    )
    assert problem.x.shape == (1, 1, 7)
    assert problem.grad_y.shape == (1, 1, 1)


@pytest.mark.parametrize("mode", PADDINGS)
def test_every_padding_mode_is_drawn_and_shrinks(mode):
    strategy = conv_problems(ndim=(1, 2, 3), padding=PADDINGS)
    problem = find(strategy, lambda p: p.spec.mode == mode, settings=FIND)
    assert problem.ndim == 1
    assert problem.x.shape == (1, 1, 1)
    assert problem.w.shape == (1, 1, 1)


def test_padding_mode_defaults_to_zeros():
    problem = find(conv_problems(padding="explicit"), lambda p: True, settings=FIND)
    assert problem.spec.padding_mode == "zeros"


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_every_padding_mode_is_drawn_and_shrinks_first_to_the_first(mode):
    modes = ("zeros", *(m for m in PADDING_MODES if m != "zeros"))
    strategy = conv_problems(ndim=1, padding="explicit", padding_mode=modes)
    problem = find(strategy, lambda p: p.spec.padding_mode == mode, settings=FIND)
    assert problem.ndim == 1 and problem.x.shape[:2] == (1, 1)
    assert find(strategy, lambda p: True, settings=FIND).spec.padding_mode == "zeros"


@settings(max_examples=80)
@given(
    conv_problems(
        padding=("same", "full", "explicit"),
        padding_mode=("reflect", "circular"),
        max_side=2,
        max_kernel=4,
        dilation=(1, 2),
    )
)
def test_inputs_are_drawn_large_enough_for_reflect_and_circular_pads(problem):
    # ConvProblem resolves its spec, which refuses pads the mode cannot fill: drawing at all
    # is the property; the sizes pin the rule.
    r = problem.resolved
    for (lo, hi), size in zip(r.padding, problem.x.shape[2:], strict=True):
        assert max(lo, hi) < size if r.padding_mode == "reflect" else max(lo, hi) <= size


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_dtype_is_drawn(dtype):
    strategy = conv_problems(dtype=DTYPES, accumulate="int64", ndim=1, max_side=3)
    problem = find(strategy, lambda p: p.x.dtype == dtype, settings=FIND)
    assert problem.w.dtype == problem.grad_y.dtype == problem.x.dtype


def test_real_data_is_drawn_after_integer_data():
    real = find(
        conv_problems(dtype=("float64", "object"), ndim=1, max_side=3, **WHOLE_SPACE),
        lambda p: any(v != int(v) for v in p.x.ravel().tolist()),
        settings=FIND,
    )
    assert real.x.dtype == np.float64
    fraction = find(
        conv_problems(dtype="object", ndim=1, max_side=3),
        lambda p: any(isinstance(v, Fraction) for v in p.x.ravel().tolist()),
        settings=FIND,
    )
    assert fraction.x.shape == (1, 1, 1)


@pytest.mark.parametrize(
    ("name", "condition"),
    [
        ("even kernel", lambda p: any(k % 2 == 0 for k in p.w.shape[2:])),
        ("kernel larger than input", lambda p: p.w.shape[2] > p.x.shape[2]),
        (
            "stride not dividing the padded extent",
            lambda p: any(a.unreached for a in resolve(p.x.shape, p.w.shape, p.spec)[1]),
        ),
        ("groups=2", lambda p: p.spec.groups == 2),
        ("bias", lambda p: p.b is not None),
    ],
)
def test_interesting_layers_are_reachable(name, condition):
    strategy = conv_problems(ndim=1, max_side=5, bias=(False, True))
    problem = find(strategy, condition, settings=FIND)
    assert condition(problem), name


@given(st.data())
def test_a_single_value_is_as_a_one_element_tuple(data):
    problem = data.draw(conv_problems(ndim=3, padding="same", stride=2, groups=1, bias=False))
    assert problem.ndim == 3
    assert problem.spec.padding == "same"
    assert _stride_dilation(problem)[0] == (2, 2, 2)
    assert problem.b is None


def test_the_default_space_is_verifys():
    minimal = find(conv_problems(), lambda p: True, settings=FIND)
    assert minimal.x.shape == minimal.w.shape == minimal.grad_y.shape == (1, 1, 1, 1)
    assert minimal.spec == ConvSpec(padding="valid", stride=(1, 1), dilation=(1, 1))
    strategy_defaults = inspect.signature(conv_problems).parameters
    verify_defaults = inspect.signature(cg.verify).parameters
    for name, default in DEFAULT_SPACE.items():
        assert strategy_defaults[name].default == default, name
        # verify's forward takes no bias: every other entry is one of its defaults too
        assert name == "bias" or verify_defaults[name].default == default, name


@settings(max_examples=30)
@given(conv_specs())
def test_default_specs_stay_in_the_default_space(spec):
    assert len(spec.stride) == DEFAULT_SPACE["ndim"]
    assert spec.mode in DEFAULT_SPACE["padding"]
    assert set(spec.stride) <= set(DEFAULT_SPACE["stride"])
    assert set(spec.dilation) <= set(DEFAULT_SPACE["dilation"])
    assert spec.groups in DEFAULT_SPACE["groups"]
    assert spec.flip in DEFAULT_SPACE["flip"]
