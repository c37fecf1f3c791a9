"""verify_transpose beyond the conv's own shapes: output_padding from the stride up to
max(stride, dilation) - 1 (a zero tail past every input's reach, or a raised hi pad),
output_size targets resolved to output_padding, and the transpose's bias gradient. Each is
pinned against torch and against a transpose that gets it wrong."""

import re

import numpy as np
import pytest
import torch

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv_transpose
from convgrad.shapes import transpose_as_conv, transpose_output_range
from convgrad.verification.transposed import (
    TransposeProblem,
    TransposeSpec,
    _presented,
    output_sizes_of,
)

from .implementations import failure_keys


def _kw(spec):
    return {
        "padding": spec.padding,
        "stride": spec.stride,
        "dilation": spec.dilation,
        "groups": spec.groups,
        "output_padding": spec.output_padding,
    }


def ref_forward(x, w, spec):
    return cg.conv_transpose(x, w, **_kw(spec))


def ref_backward(x, w, grad_y, spec):
    grads = cg.conv_transpose_backward(x, w, grad_y, **_kw(spec))
    return grads.input, grads.weight


def ref_backward_with_bias(x, w, grad_y, spec):
    return tuple(cg.conv_transpose_backward(x, w, grad_y, **_kw(spec)))


def _problem(spec, x_shape, w_shape, seed=0, integer=True):
    rng = np.random.default_rng(seed)

    def draw(shape):
        return rng.integers(-3, 4, shape).astype(float) if integer else rng.standard_normal(shape)

    x, w = draw(x_shape), draw(w_shape)
    spec = spec.resolve(x_shape[2:], w_shape[2:])
    return TransposeProblem(x, w, draw(ref_forward(x, w, spec).shape), spec)


PAST_STRIDE = [
    # (spec, x shape, w shape): output_padding >= stride, allowed below the dilation
    (TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)), (1, 2, 3), (2, 1, 3)),  # tail 1
    (TransposeSpec(((1, 3),), (1,), (3,), 1, (2,)), (2, 1, 4), (1, 2, 2)),  # hi 3 -> 1
    (TransposeSpec(((0, 0), (1, 1)), (2, 1), (3, 2), 2, (2, 1)), (1, 2, 3, 3), (2, 1, 2, 2)),
    (
        TransposeSpec(((1, 1),) * 3, (1, 2, 1), (2, 1, 2), 1, (1, 1, 1)),
        (1, 1, 2, 2, 2),
        (1, 2, 2, 2, 2),
    ),
]


def test_the_adjoint_conv_of_output_padding_past_the_stride():
    assert TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)).tail == (1,)
    assert TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)).conv_spec.padding == ((0, 0),)
    raised = TransposeSpec(((1, 3),), (1,), (3,), 1, (2,))
    assert raised.tail == (0,) and raised.conv_spec.padding == ((1, 1),)
    assert transpose_as_conv(2, 1, 2, 1) == (1, 0)  # output_padding < stride: unchanged
    assert transpose_as_conv(0, 1, 1, 2) == (0, 1)  # hi 1 taken, 1 row past reach
    assert list(transpose_output_range(3, 3, 0, 0, 1, 2)) == [7, 8]


@pytest.mark.parametrize(("spec", "x_shape", "w_shape"), PAST_STRIDE)
def test_torch_and_the_reference_pass_output_padding_past_the_stride(spec, x_shape, w_shape):
    problems = [_problem(spec, x_shape, w_shape, seed) for seed in (0, 1)]
    problems.append(_problem(spec, x_shape, w_shape, 2, integer=False))
    for forward, backward in (from_torch(torch_conv_transpose), (ref_forward, ref_backward)):
        result = cg.verify_transpose(forward, backward, problems=problems)
        assert result.ok, str(result)
        assert result.examples == 3


@pytest.mark.parametrize(
    ("mode", "padding", "a_spatial", "presented"),
    [
        # even input sizes: output_padding is the conv's unreached rows (here 0)
        ("valid", ((0, 0),), (6,), (((0, 0),), (0,), None)),
        # odd: raised to max(s, d) - 1 = 1, past the stride; hi 0 -> a zero tail row
        ("valid", ((0, 0),), (7,), (((0, 0),), (1,), None)),
        # odd with a hi pad: the pad is raised with it (same output size), output_size given
        ("full", ((2, 2),), (7,), (((2, 3),), (1,), (7,))),
        ("explicit", ((1, 0),), (8,), (((1, 0),), (0,), (8,))),
    ],
)
def test_drawn_convs_are_presented_with_output_padding_past_the_stride(
    mode, padding, a_spatial, presented
):
    spec = _presented(mode, padding, (1,), (2,), 1, a_spatial, (2,))
    assert (spec.padding, spec.output_padding, spec.output_size) == presented
    tail = transpose_as_conv(*spec.padding[0], 1, spec.output_padding[0])[1]
    y = ref_forward(
        np.ones((1, 1, *output_sizes_of(a_spatial, (2,), padding, (1,), (2,)))),
        np.ones((1, 1, 2)),
        spec,
    )
    assert y.shape[2] == a_spatial[0] + tail  # the conv's input plus the zero tail


def _tail_filled(x, w, spec):
    y = ref_forward(x, w, spec)
    y[..., -1] = 1.0  # the output_padding row past every input's reach must stay 0
    return y


def _output_padding_ignored(x, w, spec):
    return cg.conv_transpose(
        x, w, padding=spec.padding, stride=spec.stride, dilation=spec.dilation, groups=spec.groups
    )


@pytest.mark.parametrize(
    ("forward", "message"),
    [
        (
            _tail_filled,
            r"^your forward has 1\.0 at index \(0, 0, 7\), in the output_padding rows"
            r" past every input's reach \(spatial sizes \(7,\) on\): they must be 0$",
        ),
        (
            _output_padding_ignored,
            r"^your forward returned shape \(1, 1, 7\); expected \(1, 1, 8\)",
        ),
    ],
)
def test_a_wrong_tail_past_every_inputs_reach_is_named_on_forward(forward, message):
    problem = _problem(TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)), (1, 2, 3), (2, 1, 3))
    result = cg.verify_transpose(forward, ref_backward, problems=[problem])
    assert failure_keys(result) == {("raised", "forward")}, str(result)
    failure = result.failures[0]
    assert failure.problem["y"] == [1, 1, 8] and failure.problem["x"] == [1, 2, 3]
    assert failure.problem["spec"]["output_padding"] == [1]
    assert re.search(message, failure.message), failure.message


def _bias_mean(x, w, grad_y, spec):
    grad_x, grad_w, grad_b = ref_backward_with_bias(x, w, grad_y, spec)
    return grad_x, grad_w, grad_b / x.shape[0]


def _bias_without_tail(x, w, grad_y, spec):
    grad_x, grad_w, _ = ref_backward_with_bias(x, w, grad_y, spec)
    return grad_x, grad_w, grad_y[..., :-1].sum(axis=(0, 2))


def test_a_returned_bias_gradient_is_checked_and_a_right_one_passes():
    spec = TransposeSpec(((0, 0),), (1,), (2,), 1, (1,))
    problem = _problem(spec, (2, 2, 3), (2, 1, 3))
    assert problem.grad_y[..., -1].any()  # the tail row enters the bias gradient
    result = cg.verify_transpose(ref_forward, ref_backward_with_bias, problems=[problem])
    assert result.ok, str(result)
    for wrong in (_bias_mean, _bias_without_tail):
        result = cg.verify_transpose(ref_forward, wrong, problems=[problem])
        assert failure_keys(result) == {("exact", "grad_bias")}, str(result)
        failure = result.failures[0]
        assert failure.problem["x"] == [2, 2, 3] and failure.problem["y"] == [2, 1, 8]
        assert failure.diagnosis.startswith("(conv_transpose's bias gradient: grad_y")
        assert "cg.verify_transpose(forward, backward, problems=[problem])" in failure.reproduce
        assert "expected" in failure.message


def test_a_wrong_bias_gradient_is_found_by_the_search_and_its_snippet_fails_again():
    result = cg.verify_transpose(ref_forward, _bias_mean, ndim=1, max_examples=5)
    assert failure_keys(result) == {("exact", "grad_bias")}, str(result)
    failure = result.failures[0]
    namespace = {"forward": ref_forward, "backward": _bias_mean}
    exec(failure.reproduce.replace("print(", "rerun = ("), namespace)
    assert failure_keys(namespace["rerun"]) == {("exact", "grad_bias")}
    assert namespace["problem"].grad_y.shape == tuple(failure.problem["y"])


@pytest.mark.parametrize(
    ("stride", "padding", "output_size"),
    [(2, 1, (10, 9)), (3, 0, (15, 17)), (2, 2, (7, 8))],
)
def test_output_size_resolves_output_padding_as_torch_conv_transpose2d(
    stride, padding, output_size
):
    layer = torch.nn.ConvTranspose2d(
        4, 6, 3, stride=stride, padding=padding, groups=2, bias=False, dtype=torch.float64
    )
    x = np.random.default_rng(0).standard_normal((1, 4, 5, 5))
    expected = layer(torch.from_numpy(x), output_size=output_size).detach().numpy()
    spec = TransposeSpec(((padding, padding),) * 2, stride, 1, 2, None, output_size)
    w = layer.weight.detach().numpy()
    problem = TransposeProblem(x, w, np.zeros(expected.shape), spec)
    assert problem.spec.output_size == output_size
    assert expected.shape[2:] == output_size
    np.testing.assert_allclose(ref_forward(x, w, problem.spec), expected, rtol=1e-12, atol=1e-12)
    result = cg.verify_transpose(*from_torch(torch_conv_transpose), problems=[problem])
    assert result.ok, str(result)


def test_output_size_past_the_stride_is_reached_with_a_dilation():
    spec = TransposeSpec(((0, 0),), (1,), (2,), 1, None, (8,)).resolve((3,), (3,))
    assert spec.output_padding == (1,)  # nn.ConvTranspose1d's output_size stops at stride - 1


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            TransposeSpec(((1, 1),), (2,), (1,), 1, None, (12,)),
            r"output_size=\(12,\): along spatial dim 0 it is 12, but from input size 5, kernel 3,"
            r" pads \(1, 1\), stride 2 and dilation 1 a transposed convolution reaches 9 to 10"
            r" \(O_t = \(I_t - 1\)\*s - lo - hi \+ d\*\(K-1\) \+ output_padding \+ 1, 0 <="
            r" output_padding < max\(stride, dilation\)\)",
        ),
        (
            TransposeSpec(((1, 1),), (2,), (1,), 1, None, (8,)),
            r"it is 8, but .* reaches 9 to 10",
        ),
        (
            TransposeSpec(((1, 1),), (2,), (1,), 1, (0,), (10,)),
            r"output_padding=\(0,\) disagrees with output_size=\(10,\), which needs"
            r" output_padding=\(1,\)",
        ),
    ],
)
def test_an_unreachable_output_size_raises_with_the_reachable_range(spec, message):
    with pytest.raises(ValueError, match=message):
        spec.resolve((5,), (3,))
    with pytest.raises(ValueError, match=message):
        TransposeProblem(np.ones((1, 1, 5)), np.ones((1, 1, 3)), np.ones((1, 1, 9)), spec)


def test_output_size_bad_input_raises_naming_the_argument():
    with pytest.raises(ValueError, match=r"output_padding=None needs an output_size"):
        TransposeSpec(((0, 0),), 1, 1, 1, None)
    with pytest.raises(ValueError, match=r"output_size=\(0,\): every entry must be >= 1"):
        TransposeSpec(((0, 0),), 1, 1, 1, None, (0,))
    with pytest.raises(TypeError, match=r"output_size=\(2.5,\) must hold ints"):
        TransposeSpec(((0, 0),), 1, 1, 1, None, (2.5,))
    with pytest.raises(ValueError, match=r"output_size=\(3, 3\) has 2 entries"):
        TransposeSpec(((0, 0),), 1, 1, 1, None, (3, 3))
    unresolved = TransposeSpec(((0, 0),), 2, 1, 1, None, (4,))
    with pytest.raises(ValueError, match=r"call spec.resolve\(input_spatial, kernel_spatial\)"):
        _ = unresolved.conv_spec
    assert unresolved.to_dict()["output_size"] == [4]
    assert unresolved.resolve((2,), (2,)).output_padding == (0,)
