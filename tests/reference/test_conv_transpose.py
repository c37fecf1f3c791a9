"""`conv_transpose`: the adjoint of `conv` w.r.t. its input.

It equals conv_backward's grad_input (output_padding = the rows the forward left unreached),
matches torch.nn.functional.conv_transpose{1,2,3}d, and satisfies
<conv(x, w), g> = <x, conv_transpose(g, w)> exactly on integer data (Claerbout's dot-product
test)."""

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from oracles import TORCH_CONV_T, inner

import convgrad as cg
from convgrad.shapes import resolve, transpose_output_size
from convgrad.strategies import conv_problems


def _transpose_kwargs(problem):
    """conv_transpose's arguments that invert the problem's forward conv exactly."""
    resolved, dims = resolve(problem.x.shape, problem.w.shape, problem.spec)
    return {
        "padding": resolved.padding,
        "stride": resolved.stride,
        "dilation": resolved.dilation,
        "groups": resolved.groups,
        "output_padding": tuple(a.unreached for a in dims),
    }


@given(conv_problems(flip=False, dtype=("float64", "int64"), data="integer"))
def test_conv_transpose_equals_grad_input(problem):
    kwargs = _transpose_kwargs(problem)
    transposed = cg.conv_transpose(problem.grad_y, problem.w, **kwargs)
    grad_input = cg.conv_backward(problem.x, problem.w, problem.grad_y, **problem.kwargs).input
    assert transposed.shape == problem.x.shape
    np.testing.assert_array_equal(transposed, grad_input)


@given(conv_problems(dtype="int64", data="integer"))
def test_adjoint_identity_holds_exactly(problem):
    x, w, g = problem.x, problem.w, problem.grad_y
    grads = cg.conv_backward(x, w, g, **problem.kwargs)
    lhs = inner(cg.conv(x, w, **problem.kwargs), g)
    w_used = np.flip(w, axis=tuple(range(2, w.ndim))) if problem.spec.flip else w
    rhs = inner(x, cg.conv_transpose(g, w_used, **_transpose_kwargs(problem)))
    assert lhs == rhs == inner(x, grads.input)
    assert inner(w, grads.weight) == lhs


@st.composite
def _transpose_layers(draw):
    """x: (N, C_out, *I_t), w: (C_out, C_in // g, *K), per-dim (lo, hi), s, d, output_padding
    below max(s, d), pads no larger than the uncropped output allows."""
    ndim = draw(st.integers(1, 3))
    g = draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    c_out, c_group = g * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    symmetric = draw(st.booleans())
    dims = []
    for _ in range(ndim):
        i, k = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        op = draw(st.integers(0, max(s, d) - 1))
        room = (i - 1) * s + d * (k - 1) + op
        lo = draw(st.integers(0, min(2, room // 2 if symmetric else room)))
        hi = lo if symmetric else draw(st.integers(0, min(2, room - lo)))
        dims.append((i, k, (lo, hi), s, d, op))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(-3, 4, size=(n, c_out, *(dim[0] for dim in dims))).astype(np.float64)
    w = rng.integers(-3, 4, size=(c_out, c_group, *(dim[1] for dim in dims))).astype(np.float64)
    b = rng.integers(-3, 4, size=(g * c_group,)).astype(np.float64) if draw(st.booleans()) else None
    kwargs = {
        "padding": tuple(dim[2] for dim in dims),
        "stride": tuple(dim[3] for dim in dims),
        "dilation": tuple(dim[4] for dim in dims),
        "groups": g,
        "output_padding": tuple(dim[5] for dim in dims),
    }
    return x, w, b, kwargs


_PAST_REACH = (
    np.ones((1, 1, 1)),
    np.ones((1, 1, 1)),
    None,
    {"padding": ((0, 0),), "stride": (1,), "dilation": (2,), "groups": 1, "output_padding": (1,)},
)
"""output_padding >= stride with no pad: a zero row past every input's reach (the fast path
crashed on it)."""


@given(_transpose_layers())
@example(_PAST_REACH)
def test_conv_transpose_matches_torch(layer):
    x, w, b, kwargs = layer
    ndim = x.ndim - 2
    pads = kwargs["padding"]
    symmetric = all(lo == hi for lo, hi in pads)
    full = TORCH_CONV_T[ndim](
        torch.tensor(x),
        torch.tensor(w),
        None if b is None else torch.tensor(b),
        stride=kwargs["stride"],
        padding=tuple(lo for lo, _ in pads) if symmetric else 0,
        output_padding=kwargs["output_padding"],
        groups=kwargs["groups"],
        dilation=kwargs["dilation"],
    ).numpy()
    if not symmetric:
        full = full[
            (
                ...,
                *(
                    slice(lo, size - hi)
                    for (lo, hi), size in zip(pads, full.shape[2:], strict=True)
                ),
            )
        ]
    ours = cg.conv_transpose(x, w, b, **kwargs)
    expected_spatial = tuple(
        transpose_output_size(i, k, lo, hi, s, d, op)
        for i, k, (lo, hi), s, d, op in zip(
            x.shape[2:],
            w.shape[2:],
            pads,
            kwargs["stride"],
            kwargs["dilation"],
            kwargs["output_padding"],
            strict=True,
        )
    )
    assert ours.shape == (x.shape[0], w.shape[1] * kwargs["groups"], *expected_spatial)
    np.testing.assert_array_equal(ours, full)


def test_conv_transpose_same_with_stride_one_inverts_same_conv():
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, size=(1, 2, 5, 4)).astype(np.float64)
    w = rng.integers(-3, 4, size=(3, 2, 2, 3)).astype(np.float64)
    for mode in ("same", "same_lower"):
        g = rng.integers(-3, 4, size=(1, 3, 5, 4)).astype(np.float64)
        expected = cg.conv_backward(x, w, g, padding=mode, dilation=2).input
        np.testing.assert_array_equal(cg.conv_transpose(g, w, padding=mode, dilation=2), expected)


def test_conv_transpose_valid_and_full_modes():
    g = np.array([[[1.0, 2.0]]])
    w = np.array([[[1.0, 10.0, 100.0]]])
    assert cg.conv_transpose(g, w, padding="valid").ravel().tolist() == [1, 12, 120, 200]
    with pytest.raises(ValueError, match=r"crops the transposed output to 0 along spatial dim 0"):
        cg.conv_transpose(g, w, padding="full")
    assert cg.conv_transpose(g, w, padding="full", stride=3).ravel().tolist() == [100, 2]


def test_conv_transpose_output_padding_must_be_below_stride_or_dilation():
    g, w = np.ones((1, 2, 3)), np.ones((2, 1, 2))
    with pytest.raises(ValueError, match=r"output_padding=2: along spatial dim 0 it is 2") as err:
        cg.conv_transpose(g, w, stride=2, output_padding=2)
    assert "stride (2) or dilation (1)" in str(err.value)
    assert cg.conv_transpose(g, w, stride=1, dilation=2, output_padding=1).shape == (1, 1, 6)
    with pytest.raises(ValueError, match=r"output_padding=\(0, 1\) has 2 entries"):
        cg.conv_transpose(g, w, stride=2, output_padding=(0, 1))
    with pytest.raises(ValueError, match=r"output_padding=-1 must be >= 0"):
        cg.conv_transpose(g, w, stride=2, output_padding=-1)


@pytest.mark.parametrize("mode", ["same", "same_lower"])
def test_conv_transpose_rejects_same_with_stride(mode):
    with pytest.raises(ValueError, match=rf"padding='{mode}' with stride=2: the pads of 'same'"):
        cg.conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 2)), padding=mode, stride=2)


def test_conv_transpose_rejects_mismatched_channels_and_bias():
    w = np.ones((4, 3, 2))
    with pytest.raises(ValueError, match=r"x has 2 channels but w.shape\[0\] = 4"):
        cg.conv_transpose(np.ones((1, 2, 3)), w)
    with pytest.raises(
        ValueError, match=r"C_out=weight_shape\[0\]=4 must be divisible by groups=3"
    ):
        cg.conv_transpose(np.ones((1, 4, 3)), w, groups=3)
    with pytest.raises(ValueError, match=r"b has shape \(4,\); expected \(C_out,\) = \(6,\)"):
        cg.conv_transpose(np.ones((1, 4, 3)), w, np.ones(4), groups=2)


@pytest.mark.parametrize(
    ("ndim", "stride", "dilation", "padding", "output_padding"),
    [
        (1, 1, 2, 0, 1),  # output_padding >= stride, past every input's reach: a zero tail
        (1, 1, 3, 1, 2),
        (2, 2, 3, (1, 0), (2, 1)),  # output_padding 2 >= stride 2 with a pad of 1
        (3, (2, 1, 1), (1, 2, 2), 1, (1, 1, 0)),
    ],
)
def test_conv_transpose_backward_equals_torch_autograd(
    ndim, stride, dilation, padding, output_padding
):
    rng = np.random.default_rng(ndim)
    x = rng.integers(-3, 4, (2, 4, *(3,) * ndim)).astype(float)  # (N, C_out, *I_t)
    w = rng.integers(-3, 4, (4, 3, *(2,) * ndim)).astype(float)  # (C_out, C_in // g, *K)
    kw = {"stride": stride, "dilation": dilation, "padding": padding, "groups": 2}
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    yt = TORCH_CONV_T[ndim](xt, wt, bt, output_padding=output_padding, **kw)
    gy = rng.integers(-3, 4, tuple(yt.shape)).astype(float)
    expected = torch.autograd.grad(yt, (xt, wt, bt), torch.from_numpy(gy))
    for method in ("direct", "fast"):
        grads = cg.conv_transpose_backward(
            x, w, gy, output_padding=output_padding, method=method, **kw
        )
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_array_equal(got, want.numpy())
    exact = cg.conv_transpose_backward(
        x.astype(int), w.astype(int), gy.astype(int), output_padding=output_padding, **kw
    )
    assert exact.input.dtype.kind == "i" and exact.bias.dtype.kind == "i"
    np.testing.assert_array_equal(exact.bias, expected[2].numpy())


def test_conv_transpose_backward_bias_sums_the_zero_tail_rows_too():
    # stride 1, dilation 2, output_padding 1, no pad: y's last row no input reaches
    g = cg.conv_transpose_backward(
        np.ones((1, 1, 2)),
        np.ones((1, 1, 3)),
        np.arange(7.0).reshape(1, 1, 7),
        dilation=2,
        output_padding=1,
    )
    assert g.bias.tolist() == [21.0]  # 0 + 1 + ... + 6, the tail's 6 included
    assert g.input.tolist() == [[[0 + 2 + 4, 1 + 3 + 5]]]
    assert g.weight.tolist() == [[[0 + 1, 2 + 3, 4 + 5]]]


def test_conv_transpose_backward_rejects_a_grad_y_of_another_shape():
    with pytest.raises(
        ValueError,
        match=r"grad_y has shape \(1, 1, 6\); it must have the"
        r" transpose's output shape \(1, 1, 7\)",
    ):
        cg.conv_transpose_backward(
            np.ones((1, 1, 2)),
            np.ones((1, 1, 3)),
            np.ones((1, 1, 6)),
            dilation=2,
            output_padding=1,
        )
    with pytest.raises(ValueError, match=r"output_padding=2: along spatial dim 0 it is 2"):
        cg.conv_transpose_backward(
            np.ones((1, 1, 2)),
            np.ones((1, 1, 3)),
            np.ones((1, 1, 8)),
            dilation=2,
            output_padding=2,
        )
