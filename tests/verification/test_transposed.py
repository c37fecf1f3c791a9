"""verify_transpose: a transposed convolution checked in its own terms. The mapping onto the
conv (its forward is the conv's grad_input, its grad_input the conv's forward, its grad_weight
the conv's grad_weight with operands swapped) is pinned against torch autograd; torch passes;
transposed bugs are caught on the right output; bad specs and problems raise naming the rule."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv_transpose
from convgrad.verification.transposed import TransposeProblem, TransposeSpec

from .implementations import failure_keys

FAST = {"max_examples": 25}


def _kw(spec):
    return {
        "padding": spec.padding,
        "stride": spec.stride,
        "dilation": spec.dilation,
        "groups": spec.groups,
    }


def ref_forward(x, w, spec):
    return cg.conv_transpose(x, w, output_padding=spec.output_padding, **_kw(spec))


def ref_backward(x, w, grad_y, spec):
    grads = cg.conv_transpose_backward(
        x, w, grad_y, output_padding=spec.output_padding, **_kw(spec)
    )
    return grads.input, grads.weight


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_transpose_gradients_are_the_conv_with_operands_swapped(ndim):
    rng = np.random.default_rng(ndim)
    x = rng.integers(-3, 4, (2, 4, *(3,) * ndim)).astype(float)  # (N, C_in, *S)
    w = rng.integers(-3, 4, (4, 3, *(2,) * ndim)).astype(float)  # (C_in, C_out // g, *K)
    kw = {"stride": 2, "padding": 1, "dilation": 2, "groups": 2, "output_padding": 1}
    xt, wt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    bt = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    transpose = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[ndim]
    yt = transpose(xt, wt, bt, **kw)
    y = cg.conv_transpose(x, w, **kw)
    assert np.array_equal(y, yt.detach().numpy())
    gy = rng.integers(-3, 4, y.shape).astype(float)
    gx, gw, gb = torch.autograd.grad(yt, (xt, wt, bt), torch.from_numpy(gy))
    conv_kw = {"stride": 2, "padding": 1, "dilation": 2, "groups": 2}
    assert np.array_equal(gx.numpy(), cg.conv(gy, w, **conv_kw))
    assert np.array_equal(gw.numpy(), cg.conv_backward(gy, w, x, **conv_kw).weight)
    assert np.array_equal(gb.numpy(), gy.sum(axis=(0, *range(2, gy.ndim))))


@pytest.mark.parametrize(
    ("padding", "output_padding"),
    [(((1, 0),), (0,)), (((0, 2),), (1,)), (((2, 1),), (2,)), (((0, 0),), (2,))],
)
def test_torch_transpose_with_uneven_pads_equals_the_reference(padding, output_padding):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 4)), rng.standard_normal((2, 3, 3))
    spec = TransposeSpec(padding, (3,), (1,), 1, output_padding)
    got = torch_conv_transpose(torch.from_numpy(x), torch.from_numpy(w), spec).numpy()
    expected = ref_forward(x, w, spec)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("seed", [0, 1])
def test_torch_conv_transpose_passes_in_1_2_and_3_d(seed):
    forward, backward = from_torch(torch_conv_transpose)
    result = cg.verify_transpose(forward, backward, ndim=(1, 2, 3), seed=seed, max_examples=20)
    assert result.ok, str(result)
    assert result.settings["op"] == "conv_transpose"
    assert {r["output"] for r in result.ratios} >= {"forward", "grad_input", "grad_weight"}


def test_reference_transpose_passes_every_check():
    result = cg.verify_transpose(ref_forward, ref_backward, ndim=(1, 2), **FAST)
    assert result.ok, str(result)
    checks = {r["check"] for r in result.ratios}
    assert {"exact", "value", "adjoint", "finite_difference", "linearity"} <= checks


def _output_padding_at_start(x, w, spec):
    y = ref_forward(x, w, spec)
    return np.roll(y, spec.output_padding, axis=tuple(range(2, y.ndim)))


def _kernel_not_rotated(x, w, spec):
    return ref_forward(x, w[(..., *(slice(None, None, -1),) * spec.ndim)], spec)


def _channels_not_swapped(x, w, spec):
    return ref_forward(x, np.swapaxes(w, 0, 1), spec)


def _output_padding_ignored(x, w, spec):
    return cg.conv_transpose(x, w, **_kw(spec))


def _grad_input_not_rotated(x, w, grad_y, spec):
    flipped = w[(..., *(slice(None, None, -1),) * spec.ndim)]
    return cg.conv(grad_y, flipped, **_kw(spec)), ref_backward(x, w, grad_y, spec)[1]


def _grad_weight_scaled(x, w, grad_y, spec):
    grad_x, grad_w = ref_backward(x, w, grad_y, spec)
    return grad_x, grad_w / x.shape[0]


@pytest.mark.parametrize(
    ("forward", "backward", "key", "space", "cause"),
    [
        (
            _output_padding_at_start,
            ref_backward,
            ("exact", "forward"),
            {},
            "were put at the start of each spatial dim instead of the end",
        ),
        (_kernel_not_rotated, ref_backward, ("exact", "forward"), {}, "rotated 180°"),
        (_channels_not_swapped, ref_backward, ("exact", "forward"), {"groups": 1}, ""),
        (_output_padding_ignored, ref_backward, ("shape", "forward"), {}, ""),
        (ref_forward, _grad_input_not_rotated, ("exact", "grad_input"), {}, "rotated 180°"),
        (ref_forward, _grad_weight_scaled, ("exact", "grad_weight"), {}, "divided by N"),
    ],
)
def test_transposed_bugs_are_named_on_their_output(forward, backward, key, space, cause):
    result = cg.verify_transpose(forward, backward, ndim=1, max_failures=3, **space, **FAST)
    assert key in failure_keys(result), str(result)
    failure = next(f for f in result.failures if (f.check, f.output) == key)
    assert "output_padding" in failure.problem["spec"]
    assert "cg.verify_transpose(forward, backward, problems=[problem])" in failure.reproduce
    assert "conv_transpose with output_padding=" in failure.diagnosis
    assert cause in failure.diagnosis


def test_reproduce_snippet_rebuilds_the_transposed_problem_and_fails_again():
    result = cg.verify_transpose(_output_padding_at_start, ref_backward, max_failures=1, **FAST)
    failure = result.failures[0]
    namespace = {"forward": _output_padding_at_start, "backward": ref_backward}
    exec(failure.reproduce.replace("print(", "rerun = ("), namespace)
    problem = namespace["problem"]
    assert problem.grad_y.shape == tuple(failure.problem["y"])
    assert problem.x.shape == tuple(failure.problem["x"])
    assert ("exact", "forward") in failure_keys(namespace["rerun"])


def test_given_problems_are_checked_as_they_are():
    rng = np.random.default_rng(3)
    spec = TransposeSpec(((1, 0),), (2,), (1,), 1, (1,))
    x, w = rng.standard_normal((1, 2, 3)), rng.standard_normal((2, 1, 3))
    problem = TransposeProblem(x, w, rng.standard_normal((1, 1, 7)), spec)
    result = cg.verify_transpose(ref_forward, ref_backward, problems=[problem])
    assert result.ok and result.examples == 1
    bad = cg.verify_transpose(_output_padding_at_start, ref_backward, problems=[problem])
    assert ("value", "forward") in failure_keys(bad)  # real data: the bound, not exactness


def test_spec_normalises_pads_and_records_output_padding():
    assert TransposeSpec((1, 2), 1, 1, 1, 0).padding == ((1, 1), (2, 2))
    spec = TransposeSpec(((1, 1), (0, 2)), 2, (1, 3), 1, (1, 0))
    assert spec.padding == ((1, 1), (0, 2))
    assert spec.stride == (2, 2) and spec.dilation == (1, 3)
    assert spec.to_dict()["output_padding"] == [1, 0]
    assert spec.conv_spec == cg.ConvSpec(((1, 1), (0, 2)), (2, 2), (1, 3), 1)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"output_padding": (2,)},
            ValueError,
            r"output_padding=\(2,\): along spatial dim 0 it is 2, but it must be smaller than"
            r" stride \(2\) or dilation \(1\)",
        ),
        (
            {"output_padding": (3,), "dilation": (3,)},
            ValueError,
            r"it is 3, but it must be smaller than stride \(2\) or dilation \(3\) \(as"
            r" torch.nn.ConvTranspose: 0 <= output_padding < max\(stride, dilation\)\)",
        ),
        (
            {"output_padding": (-1,)},
            ValueError,
            r"output_padding=\(-1,\): every entry must be >= 0",
        ),
        ({"output_padding": (0.5,)}, TypeError, r"output_padding=\(0.5,\) must hold ints"),
        ({"output_padding": (0, 0)}, ValueError, r"output_padding=\(0, 0\) has 2 entries"),
        ({"padding": "same"}, TypeError, r"padding='same' must hold one int or \(lo, hi\) pair"),
        ({"stride": 0}, ValueError, r"stride=0 must be >= 1"),
    ],
)
def test_bad_spec_raises_naming_the_argument_and_rule(kwargs, error, message):
    args = {"padding": ((0, 0),), "stride": (2,), "dilation": (1,), "groups": 1}
    args["output_padding"] = (0,)
    with pytest.raises(error, match=message):
        TransposeSpec(**{**args, **kwargs})


def test_bad_problem_and_arguments_raise():
    spec = TransposeSpec(((0, 0),), (2,), (1,), 1, (1,))
    x, w = np.ones((1, 2, 3)), np.ones((2, 1, 2))
    with pytest.raises(ValueError, match=r"grad_y has shape \(1, 1, 6\); it must have the"):
        TransposeProblem(x, w, np.ones((1, 1, 6)), spec)
    with pytest.raises(ValueError, match=r"x has shape \(1, 3, 3\) and w \(2, 1, 2\)"):
        TransposeProblem(np.ones((1, 3, 3)), w, np.ones((1, 1, 7)), spec)
    with pytest.raises(TypeError, match="backward=None must be callable"):
        cg.verify_transpose(ref_forward, None)
    with pytest.raises(TypeError, match="problems holds a ConvProblem; expected TransposeProb"):
        cg.verify_transpose(ref_forward, ref_backward, problems=[_conv_problem()])


def _conv_problem():
    return cg.ConvProblem(
        np.ones((1, 1, 3)), np.ones((1, 1, 1)), None, np.ones((1, 1, 3)), cg.ConvSpec()
    )


def _raising_forward(x, w, spec):
    raise RuntimeError("not implemented for output_padding")


def test_a_raising_transpose_is_named_in_its_own_terms():
    result = cg.verify_transpose(_raising_forward, ref_backward, max_examples=5, max_failures=1)
    assert failure_keys(result) == {("raised", "forward")}
    message = result.failures[0].message
    assert message.startswith(
        "your forward raised RuntimeError: not implemented for output_padding"
    )


def test_a_wrong_transposed_shape_found_on_a_fixed_problem_is_a_shape_failure_not_a_raise():
    """A failure found on a fixed problem carries a note after the call's message; the shape
    failure the wrapper recorded is still found under it."""
    result = cg.verify_transpose(_output_padding_ignored, ref_backward, ndim=2, **FAST)
    fixed = [f for f in result.failures if "found on the fixed problem" in f.message]
    assert fixed, str(result)
    for failure in result.failures:
        assert "TransposeCallError" not in failure.message, str(failure)
        assert failure.check != "raised", str(failure)
    assert any(f.check == "shape" and f in fixed for f in result.failures)
