"""Every bad-input rule of `conv`, `conv_backward` and `conv_transpose` raises before any
arithmetic, with a message naming the argument, its value and the rule; inputs are never
modified (read-only inputs work)."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings

import convgrad as cg
from convgrad.shapes import resolve
from convgrad.strategies import conv_problems

X = np.ones((1, 2, 5))
W = np.ones((3, 2, 2))
GY = np.ones((1, 3, 4))

SPEC_ERRORS = [
    ({"stride": 0}, ValueError, r"stride=0 must be >= 1"),
    ({"stride": -2}, ValueError, r"stride=-2 must be >= 1"),
    ({"dilation": 0}, ValueError, r"dilation=0 must be >= 1"),
    ({"dilation": (1, 0)}, ValueError, r"dilation=\(1, 0\): every entry must be >= 1"),
    ({"stride": 1.0}, TypeError, r"stride=1.0 must be an int or a sequence of ints"),
    ({"stride": True}, TypeError, r"stride=True must be an int or a sequence of ints"),
    ({"dilation": (1.5,)}, TypeError, r"dilation=\(1.5,\) must hold ints, got float"),
    ({"stride": (True,)}, TypeError, r"stride=\(True,\) must hold ints, got bool"),
    ({"stride": ()}, ValueError, r"stride=\(\) must name at least one spatial dim"),
    ({"stride": "2"}, TypeError, r"stride='2' must be an int or a sequence of ints"),
    ({"stride": (1, 1)}, ValueError, r"stride=\(1, 1\) has 2 entries but the input has 1 spatial"),
    ({"dilation": (1, 2)}, ValueError, r"dilation=\(1, 2\) has 2 entries but the input has 1"),
    ({"padding": (1, 2)}, ValueError, r"padding=\(1, 2\) has 2 entries but the input has 1"),
    ({"padding": -1}, ValueError, r"padding=-1 must be >= 0"),
    ({"padding": (-1,)}, ValueError, r"padding=\(-1,\): every pad must be >= 0"),
    ({"padding": ((0, -1),)}, ValueError, r"every pad must be >= 0, got \(0, -1\)"),
    (
        {"padding": ((1, 1, 1),)},
        TypeError,
        r"must be ints or \(lo, hi\) int pairs.*got \(1, 1, 1\)",
    ),
    ({"padding": ((1.0, 1),)}, TypeError, r"padding=\(\(1.0, 1\),\) must be ints or \(lo, hi\)"),
    ({"padding": (1, (0, 1))}, TypeError, r"must be ints or \(lo, hi\) int pairs.*got 1"),
    ({"padding": ()}, ValueError, r"padding=\(\) must name at least one spatial dim"),
    ({"padding": 1.5}, TypeError, r"padding=1.5 must be a mode name, an int"),
    ({"padding": True}, TypeError, r"padding=True must be a mode name"),
    (
        {"padding": "SAME"},
        ValueError,
        r"padding='SAME' is not a mode; use one of \('valid', 'same'",
    ),
    ({"padding": "explicit"}, ValueError, r"padding='explicit' is not a mode"),
    ({"groups": 0}, ValueError, r"groups=0 must be >= 1"),
    ({"groups": 2.0}, TypeError, r"groups=2.0 must be an int"),
    ({"groups": True}, TypeError, r"groups=True must be an int"),
    ({"flip": 1}, TypeError, r"flip=1 must be a bool"),
    ({"method": "slow"}, ValueError, r"method='slow' must be one of \('auto', 'direct', 'fast'\)"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), SPEC_ERRORS)
def test_bad_hyper_parameters_are_named_in_the_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        cg.conv(X, W, **kwargs)
    with pytest.raises(error, match=message):
        cg.conv_backward(X, W, GY, **kwargs)
    if "flip" not in kwargs:
        with pytest.raises(error, match=message):
            cg.conv_transpose(GY, W, **kwargs)


SHAPE_ERRORS = [
    (
        np.ones((2, 5)),
        W,
        ValueError,
        r"x has shape \(2, 5\) \(2 dims\); expected \(N, C, \*spatial",
    ),
    (
        np.ones((1,) * 6),
        np.ones((1,) * 6),
        ValueError,
        r"x has shape \(1, 1, 1, 1, 1, 1\) \(6 dims",
    ),
    (X, np.ones((3, 2, 2, 2)), ValueError, r"w has shape \(3, 2, 2, 2\) \(4 dims\); expected 3"),
    (X, np.ones((3, 3, 2)), ValueError, r"weight_shape\[1\]=3 must equal C_in // groups = 2 // 1"),
    (np.ones((0, 2, 5)), W, ValueError, r"x has shape \(0, 2, 5\); every size must be >= 1"),
    (X, np.ones((3, 2, 0)), ValueError, r"w has shape \(3, 2, 0\); every size must be >= 1"),
    (5.0, W, ValueError, r"x has shape \(\) \(0 dims\)"),
]


@pytest.mark.parametrize(("x", "w", "error", "message"), SHAPE_ERRORS)
def test_bad_operand_shapes_are_named_in_the_error(x, w, error, message):
    with pytest.raises(error, match=message):
        cg.conv(x, w)


@pytest.mark.parametrize(
    ("x_channels", "w_shape", "message"),
    [
        (3, (2, 1, 2), r"input channels C_in=3 must be divisible by groups=2"),
        (2, (3, 1, 2), r"output channels C_out=weight_shape\[0\]=3 must be divisible by groups=2"),
        (4, (2, 1, 2), r"weight_shape\[1\]=1 must equal C_in // groups = 4 // 2 = 2"),
    ],
)
def test_channels_must_divide_by_groups(x_channels, w_shape, message):
    with pytest.raises(ValueError, match=message):
        cg.conv(np.ones((1, x_channels, 5)), np.ones(w_shape), groups=2)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs", "message"),
    [
        (
            (1, 1, 3),
            (1, 1, 5),
            {},
            r"padding='valid' needs the dilated kernel \(5 = 1\*\(5-1\)\+1\) to fit in the padded"
            r" input \(3 = 3\+0\+0\) along spatial dim 0",
        ),
        (
            (1, 1, 6, 4),
            (1, 1, 2, 3),
            {"dilation": (1, 2)},
            r"dilated kernel \(5 = 2\*\(3-1\)\+1\) to fit in the padded input \(4 = 4\+0\+0\)"
            r" along spatial dim 1",
        ),
        (
            (1, 1, 2, 2, 2),
            (1, 1, 1, 1, 4),
            {"padding": ((0, 0), (0, 0), (1, 0))},
            r"the padding needs the dilated kernel \(4 = 1\*\(4-1\)\+1\) to fit in the padded input"
            r" \(3 = 2\+1\+0\) along spatial dim 2",
        ),
    ],
)
def test_kernel_larger_than_padded_input_names_dim_and_sizes(x_shape, w_shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cg.conv(np.ones(x_shape), np.ones(w_shape), **kwargs)
    with pytest.raises(ValueError, match=message):
        cg.output_shape(x_shape, w_shape, **kwargs)


def test_grad_y_must_have_the_forward_output_shape():
    message = r"grad_y has shape \(1, 3, 5\); it must have the forward output's shape \(1, 3, 4\)"
    with pytest.raises(ValueError, match=message):
        cg.conv_backward(X, W, np.ones((1, 3, 5)))
    with pytest.raises(ValueError, match=r"grad_y has shape \(3, 4\)"):
        cg.conv_backward(X, W, np.ones((3, 4)))


def _escaped(shape: tuple) -> str:
    return str(shape).replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("b_shape", [(2,), (3, 1), (), (1, 3)])
def test_bias_must_have_shape_c_out(b_shape):
    message = rf"b has shape {_escaped(b_shape)}; expected \(C_out,\) = \(3,\)"
    with pytest.raises(ValueError, match=message):
        cg.conv(X, W, np.ones(b_shape))
    with pytest.raises(ValueError, match=message):
        cg.conv_backward(X, W, GY, b=np.ones(b_shape))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.full((1, 2, 5), "a"), r"x has dtype <U1; convgrad takes float \(16/32/64\), integer"),
        (np.ones((1, 2, 5), dtype=bool), r"x has dtype bool; convgrad takes float"),
        (np.ones((1, 2, 5), dtype=complex), r"x has dtype complex128; convgrad takes float"),
        (X.astype(object), r"x is an object array holding float 1.0; object arrays must hold"),
        (np.full((1, 2, 5), True, dtype=object), r"x is an object array holding bool True"),
        (np.full((1, 2, 5), "1", dtype=object), r"x is an object array holding str '1'"),
    ],
)
def test_non_numeric_dtypes_are_type_errors(x, message):
    with pytest.raises(TypeError, match=message):
        cg.conv(x, W)


def test_float_and_exact_operands_do_not_mix():
    w_exact = np.ones((3, 2, 2), dtype=object)
    with pytest.raises(TypeError, match=r"mixed float and exact operands: \{'w': 'object'\}"):
        cg.conv(X, w_exact)
    with pytest.raises(TypeError, match=r"mixed float and exact operands: \{'grad_y': 'int64'\}"):
        cg.conv_backward(X, W, np.ones((1, 3, 4), dtype=np.int64))
    with pytest.raises(TypeError, match=r"mixed float and exact operands: \{'b': 'object'\}"):
        cg.conv(X, W, np.array([Fraction(1, 2)] * 3, dtype=object))


def test_float_dtypes_must_match():
    message = r"mismatched float dtypes \{'x': 'float32', 'w': 'float64'\}"
    with pytest.raises(TypeError, match=message):
        cg.conv(X.astype(np.float32), W)
    with pytest.raises(TypeError, match=r"'grad_y': 'float16'\}; all operands must share one"):
        cg.conv_backward(X, W, GY.astype(np.float16))
    with pytest.raises(TypeError, match=r"'b': 'float32'"):
        cg.conv_transpose(GY, W, np.ones(2, dtype=np.float32))


def _read_only_copies(arrays):
    copies = []
    for a in arrays:
        if a is None:
            copies.append(None)
            continue
        c = a.copy()
        c.flags.writeable = False
        copies.append(c)
    return copies


@settings(max_examples=20)
@given(conv_problems(dtype=("float64", "int64", "object", "float16"), max_side=6))
def test_inputs_are_never_modified_and_may_be_read_only(problem):
    originals = [problem.x, problem.w, problem.b, problem.grad_y]
    snapshot = [None if a is None else a.copy() for a in originals]
    x, w, b, gy = _read_only_copies(originals)
    methods = ("direct",) if x.dtype == object else ("direct", "fast", "auto")
    for method in methods:
        cg.conv(x, w, b, method=method, **problem.kwargs)
        cg.conv_backward(x, w, gy, b=b, method=method, **problem.kwargs)
        if not problem.spec.flip:
            resolved, dims = resolve(x.shape, w.shape, problem.spec)
            cg.conv_transpose(
                gy,
                w,
                padding=resolved.padding,
                stride=resolved.stride,
                dilation=resolved.dilation,
                groups=resolved.groups,
                output_padding=tuple(a.unreached for a in dims),
                method=method,
            )
    for before, after in zip(snapshot, (x, w, b, gy), strict=True):
        if before is not None:
            assert after.dtype == before.dtype
            np.testing.assert_array_equal(after, before)


def test_writable_inputs_are_not_written():
    rng = np.random.default_rng(0)
    x0, w0, gy0 = rng.normal(size=(1, 2, 5)), rng.normal(size=(3, 2, 2)), rng.normal(size=(1, 3, 6))
    x, w, gy = x0.copy(), w0.copy(), gy0.copy()
    for method in ("direct", "fast"):
        cg.conv_backward(x, w, gy, padding="full", flip=True, method=method)
        cg.conv(x, w, padding=((2, 0),), flip=True, method=method)
        cg.conv_transpose(gy, w, padding=1, method=method)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(gy, gy0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"padding": b"ab"}, r"padding=b'ab' must be a mode name, an int"),
        ({"padding": bytearray(b"\x01")}, r"padding=bytearray\(b'\\x01'\) must be a mode name"),
        ({"padding": (b"ab",)}, r"padding=\(b'ab',\) must be ints or \(lo, hi\) int pairs"),
        ({"stride": b"\x02"}, r"stride=b'\\x02' must be an int or a sequence of ints"),
        ({"dilation": memoryview(b"\x01")}, r"dilation=<memory at .*> must be an int or a seq"),
    ],
)
def test_bytes_are_not_taken_as_sizes(kwargs, message):
    # b"ab" is a Sequence of the ints 97 and 98: without the rule it was pads (97, 98).
    with pytest.raises(TypeError, match=message):
        cg.conv(X, W, **kwargs)
    with pytest.raises(TypeError, match=message):
        cg.ConvSpec(**kwargs)


@pytest.mark.parametrize("name", ["x", "w", "grad_y"])
def test_a_missing_operand_is_a_type_error_naming_it(name):
    operands = {"x": X, "w": W, "grad_y": GY} | {name: None}
    message = rf"{name}=None: {name} is required; pass an array of numbers"
    with pytest.raises(TypeError, match=message):
        cg.conv_backward(operands["x"], operands["w"], operands["grad_y"])
    if name != "grad_y":
        with pytest.raises(TypeError, match=message):
            cg.conv(operands["x"], operands["w"])
        with pytest.raises(TypeError, match=message):
            cg.conv_transpose(GY if name == "w" else None, operands["w"])


@pytest.mark.parametrize(
    ("input_shape", "weight_shape", "name"),
    [
        (None, (3, 2, 2), "input_shape"),
        ((1, 2, 5), None, "weight_shape"),
        (5, (3, 2, 2), "input_shape"),
        ("125", (3, 2, 2), "input_shape"),
        ((1, 2, 5), b"\x03\x02\x02", "weight_shape"),
    ],
)
def test_a_shape_that_is_not_a_sequence_is_a_type_error(input_shape, weight_shape, name):
    with pytest.raises(TypeError, match=rf"{name}=.* must be a sequence of ints"):
        cg.output_shape(input_shape, weight_shape)


def test_output_shape_takes_any_iterable_of_ints_once():
    assert cg.output_shape(iter((1, 2, 5)), np.array((3, 2, 2))) == (1, 3, 4)


@pytest.mark.parametrize("stride", [2**59, 2**63, 10**30])
@pytest.mark.parametrize("method", ["direct", "fast"])
def test_a_stride_beyond_the_input_leaves_one_output_row_computed_exactly(stride, method):
    # One window at position 0 whatever the stride: the answer of stride 7 (= the input size),
    # not an int64 overflow in the arithmetic's array strides.
    x = np.arange(14.0).reshape(1, 2, 7)
    w = np.arange(1.0, 7.0).reshape(1, 2, 3)
    gy = np.array([[[2.0]]])
    expected_y = cg.conv(x, w, stride=7, method="direct")
    assert expected_y.shape == (1, 1, 1)
    np.testing.assert_array_equal(cg.conv(x, w, stride=stride, method=method), expected_y)
    expected = cg.conv_backward(x, w, gy, stride=7, method="direct")
    got = cg.conv_backward(x, w, gy, stride=stride, method=method)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)
    np.testing.assert_array_equal(
        cg.conv_transpose(gy, w, stride=stride, output_padding=4, method=method), expected.input
    )
    assert cg.output_shape(x.shape, w.shape, stride=stride) == (1, 1, 1)


@pytest.mark.parametrize("method", ["direct", "fast"])
def test_a_huge_dilation_of_a_size_one_kernel_is_irrelevant(method):
    x, w = np.arange(6.0).reshape(1, 1, 6), np.full((1, 1, 1), 2.0)
    np.testing.assert_array_equal(cg.conv(x, w, dilation=10**30, method=method), 2 * x)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: cg.conv(X, W, padding=2**62), r"y would have shape \(1, 3, 9223372036854775"),
        (lambda: cg.conv(X, W, padding=2**59), r"y would have shape \(1, 3, 11529215046068469"),
        (
            lambda: cg.conv(X, np.ones((3, 2, 1)), padding=2**61),
            r"y would have shape \(1, 3, 4611686018427387909\)",
        ),
        (
            lambda: cg.conv_backward(X, W, GY, padding=((0, 2**62),)),
            r"y would have shape \(1, 3, 4611686018427387908\)",
        ),
        (
            lambda: cg.conv_transpose(np.ones((1, 3, 2)), W, stride=10**30),
            r"y would have shape \(1, 2, 1000000000000000000000000000002\)",
        ),
    ],
)
def test_an_output_too_large_for_an_array_is_a_value_error(call, message):
    with pytest.raises(ValueError, match=message + r".* more than an array can hold"):
        call()


@pytest.mark.parametrize("name", ["x", "w"])
def test_a_ragged_operand_is_a_value_error_naming_it(name):
    # numpy's own message named no operand.
    operands = {"x": X, "w": W} | {name: [[[1.0, 2.0, 3.0], [1.0]]]}
    with pytest.raises(ValueError, match=rf"^{name} is not an array: setting an array element"):
        cg.conv(operands["x"], operands["w"])
