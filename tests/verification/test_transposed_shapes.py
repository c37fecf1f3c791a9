"""verify_transpose beyond the conv's own shapes: output_padding from the stride up to
max(stride, dilation) - 1 (a zero tail past every input's reach, or a raised hi pad),
output_size targets resolved to output_padding, and the transpose's bias gradient. Each is
pinned against torch and against a transpose that gets it wrong."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import convgrad as cg
from convgrad.adapters.torch import from_torch, torch_conv_transpose
from convgrad.shapes import transpose_as_conv, transpose_output_range
from convgrad.strategies import transpose_problems
from convgrad.verification.transposed import (
    TransposeProblem,
    TransposeSpec,
    _presented,
    output_sizes_of,
    present_transpose,
)

from .implementations import failure_keys


@pytest.fixture(autouse=True)
def one_torch_thread():
    # torch's thread pool on a shared 2-core machine makes each small call ~100x slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


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


def _output_padding_at_start(x, w, spec):
    y = ref_forward(x, w, spec)
    return np.roll(y, spec.output_padding, axis=tuple(range(2, y.ndim)))


@pytest.mark.parametrize(
    ("forward", "check", "message", "cause"),
    [
        (
            _tail_filled,
            "value",
            r"^your forward has 1\.0 at index \(0, 0, 7\), in its last \(1,\) rows, which lie"
            r" past every input's reach \(output_padding beyond the kernel's reach\): they must"
            r" be 0$",
            "it matches none of the known mistakes (output_padding rows at the start)",
        ),
        (
            _output_padding_at_start,
            "value",
            r"^your forward has .* at index \(0, 0, 7\), in its last \(1,\) rows",
            "likely cause: the output is shifted output_padding rows toward the end: the"
            " output_padding rows were put at the start of each spatial dim instead of the end",
        ),
        (
            _output_padding_ignored,
            "shape",
            r"^your forward returned shape \(1, 1, 7\); expected \(1, 1, 8\)",
            "likely cause: output_padding=(1,) ignored: it adds rows at the end",
        ),
    ],
)
def test_a_wrong_tail_past_every_inputs_reach_is_named_on_forward(forward, check, message, cause):
    problem = _problem(TransposeSpec(((0, 0),), (1,), (2,), 1, (1,)), (1, 2, 3), (2, 1, 3))
    result = cg.verify_transpose(forward, ref_backward, problems=[problem])
    assert failure_keys(result) == {(check, "forward")}, str(result)
    failure = result.failures[0]
    assert failure.problem["y"] == [1, 1, 8] and failure.problem["x"] == [1, 2, 3]
    assert failure.problem["spec"]["output_padding"] == [1]
    assert re.search(message, failure.message), failure.message
    assert cause in failure.diagnosis, failure.diagnosis
    if check == "shape":
        assert (failure.expected_shape, failure.got_shape) == ((1, 1, 8), (1, 1, 7))


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


@pytest.mark.slow
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


def _readme_snippet() -> str:
    """The README's "Verify a transposed convolution" code, read so the code tested is the
    code shown."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    start = text.index("```python\n", text.index("### Verify a transposed convolution")) + 10
    return text[start : text.index("```", start)]


def test_readme_verifies_a_conv_transpose2d_module_in_ten_lines():
    code = _readme_snippet()
    assert len(code.strip().splitlines()) <= 10
    namespace = {}
    exec(code, namespace)
    result = namespace["result"]
    assert result.ok and result.examples == 2
    assert {r["output"] for r in result.ratios} >= {"forward", "grad_input", "grad_weight"}


def test_a_module_refuses_a_problem_of_another_spec_and_its_wrong_bias_is_caught():
    layer = torch.nn.ConvTranspose1d(2, 2, 3, stride=2, padding=1, dtype=torch.float64)
    spec = TransposeSpec.from_torch(layer)
    assert spec == TransposeSpec(((1, 1),), (2,), (1,), 1, (0,))
    other = TransposeProblem.random(
        TransposeSpec(((0, 0),), (2,), (1,), 1, (0,)), (1, 2, 3), (2, 2, 3)
    )
    result = cg.verify_transpose(*from_torch(layer), problems=[other])
    assert ("raised", "forward") in failure_keys(result)
    assert "the problem's spec has padding=((0, 0),) but the module ((1, 1),)" in str(result)
    forward, backward = from_torch(layer)

    def bias_doubled(x, w, grad_y, spec):
        grad_x, grad_w, grad_b = backward(x, w, grad_y, spec)
        return grad_x, grad_w, 2 * grad_b

    problem = TransposeProblem.random(spec, (1, 2, 3), (2, 2, 3), seed=1)
    result = cg.verify_transpose(forward, bias_doubled, problems=[problem])
    assert failure_keys(result) == {("exact", "grad_bias")}, str(result)


@pytest.mark.parametrize("ndim", [1, 2, pytest.param(3, marks=pytest.mark.slow)])
def test_torch_conv_transpose_passes_20_seeds_with_output_padding_size_groups_dilation(ndim):
    """torch.nn.functional.conv_transpose{1,2,3}d on 20 seeded problems: output_padding up to
    max(stride, dilation) - 1, output_size targets, groups and dilation, no false alarm."""
    transpose = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[ndim]
    problems = []
    rng = np.random.default_rng(ndim)
    while len(problems) < 20:
        seed = len(problems)
        stride = tuple(int(v) for v in rng.integers(1, 4, ndim))
        dilation = tuple(int(v) for v in rng.integers(1, 4, ndim))
        groups = int(rng.integers(1, 3))
        kernel = tuple(int(v) for v in rng.integers(1, 4, ndim))
        sizes = tuple(int(v) for v in rng.integers(1, 4, ndim))
        pads = tuple((p, p) for p in rng.integers(0, 2, ndim).tolist())
        extra = tuple(
            int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)
        )
        spec = TransposeSpec(pads, stride, dilation, groups, extra)
        try:
            y = ref_forward(np.ones((1, groups, *sizes)), np.ones((groups, 1, *kernel)), spec)
        except ValueError:
            continue  # the pads crop the whole output
        if any(n <= t for n, t in zip(y.shape[2:], spec.tail, strict=True)):
            continue  # nothing reached: no conv is its adjoint (TransposeProblem refuses it)
        if seed % 2:  # the same transpose asked for by its output size
            spec = TransposeSpec(pads, stride, dilation, groups, None, y.shape[2:])
        data = "integer" if seed % 3 else "real"
        x_shape, w_shape = (1, 2 * groups, *sizes), (2 * groups, 2, *kernel)
        problems.append(TransposeProblem.random(spec, x_shape, w_shape, seed=seed, data=data))
    assert any(
        op >= s
        for p in problems
        for op, s in zip(p.spec.output_padding, p.spec.stride, strict=True)
    )
    result = cg.verify_transpose(*from_torch(transpose), problems=problems)
    assert result.ok, str(result)
    assert result.examples == 20


def test_a_transpose_whose_pads_crop_every_reached_row_is_refused():
    spec = TransposeSpec(((1, 1),), (1,), (3,), 1, (2,))  # y = [0]: no input reaches it
    assert cg.conv_transpose(np.ones((1, 1, 1)), np.ones((1, 1, 1)), **_kw(spec)).tolist() == [
        [[0.0]]
    ]
    with pytest.raises(
        ValueError,
        match=r"padding=\(\(1, 1\),\) crops along spatial dim 0 every"
        r" row an input reaches: the 1 output rows are all output_padding zeros",
    ):
        TransposeProblem(np.ones((1, 1, 1)), np.ones((1, 1, 1)), np.ones((1, 1, 1)), spec)


def test_transpose_spec_from_torch_keywords_and_bad_input():
    spec = TransposeSpec.from_torch(stride=(2, 1), padding=1, output_padding=(1, 0), dilation=1)
    assert spec == TransposeSpec(((1, 1), (1, 1)), (2, 1), (1, 1), 1, (1, 0))
    with pytest.raises(ValueError, match=r"is a forward convolution; TransposeSpec.from_torch"):
        TransposeSpec.from_torch(torch.nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match=r"convgrad.TransposeSpec.from_torch builds its spec"):
        cg.ConvSpec.from_torch(torch.nn.ConvTranspose2d(1, 1, 3))
    with pytest.raises(ValueError, match=r"give the number of spatial dims through a tuple"):
        TransposeSpec.from_torch(stride=2)
    with pytest.raises(TypeError, match=r"fn=Conv2d: from_torch takes a function"):
        from_torch(torch.nn.Conv2d(1, 1, 3))
    with pytest.raises(ValueError, match=r"data='ints' must be 'integer' or 'real'"):
        TransposeProblem.random(spec, (1, 1, 2, 2), (1, 1, 2, 2), data="ints")


@given(transpose_problems(ndim=(1, 2), stride=(1, 2), dilation=(1, 2, 3)))
def test_drawn_transpose_problems_are_consistent_and_torch_agrees(problem):
    spec = problem.spec
    y = ref_forward(problem.x, problem.w, spec)
    assert y.shape == problem.grad_y.shape
    assert all(
        0 <= op < max(s, d)
        for op, s, d in zip(spec.output_padding, spec.stride, spec.dilation, strict=True)
    )
    if spec.output_size is not None:
        assert y.shape[2:] == spec.output_size
    got = torch_conv_transpose(torch.from_numpy(problem.x), torch.from_numpy(problem.w), spec)
    np.testing.assert_allclose(got.numpy(), y, rtol=1e-12, atol=1e-12)


def test_present_transpose_raises_output_padding_past_the_stride_on_request():
    natural = present_transpose(((0, 0),), (1,), (2,), 1, (6,), (2,), False, False)
    assert (natural.output_padding, natural.tail, natural.output_size) == ((0,), (0,), None)
    raised = present_transpose(((0, 0),), (1,), (2,), 1, (6,), (2,), True, True)
    assert (raised.output_padding, raised.tail, raised.output_size) == ((1,), (1,), (7,))
    with pytest.raises(ValueError, match=r"dtype: 'float8' is not one of"):
        transpose_problems(dtype="float8")
