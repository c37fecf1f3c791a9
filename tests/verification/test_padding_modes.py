"""verify with padding modes: torch's own padding_mode code path passes, the reference passes,
and padding-mode bugs are caught on the right output with the right cause."""

import numpy as np
import pytest
import torch

import convgrad as cg
from convgrad.adapters.torch import from_torch
from convgrad.verification.bounds import Precision, gradient_bounds, gradient_terms
from convgrad.verification.problem import ConvProblem

from .implementations import FAST, failure_keys, ref_backward, ref_forward, spec_kwargs

COPY_MODES = ("reflect", "replicate", "circular")
ALL_MODES = ("zeros", *COPY_MODES)


def module_conv(x, w, spec):
    """torch.nn.Conv{1,2,3}d(padding_mode=spec.padding_mode) on its own code path
    (``_conv_forward`` pads by the module's mode): symmetric pads as padding=lo, the uneven pads
    of an even kernel as padding="same" (which torch allows at stride 1 only)."""
    symmetric = all(lo == hi for lo, hi in spec.padding)
    layer = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[spec.ndim](
        x.shape[1],
        w.shape[0],
        tuple(w.shape[2:]),
        stride=spec.stride,
        padding=tuple(lo for lo, _ in spec.padding) if symmetric else "same",
        dilation=spec.dilation,
        groups=spec.groups,
        bias=False,
        padding_mode=spec.padding_mode,
    )
    return layer._conv_forward(x, w, None)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("padding", "stride"), [(("valid", "full", "same"), 1), (("valid", "full"), (1, 2, 3))]
)
def test_torch_conv_modules_with_every_padding_mode_pass(seed, padding, stride):
    forward, backward = from_torch(module_conv)
    result = cg.verify(
        forward,
        backward,
        ndim=(1, 2, 3),
        padding=padding,
        stride=stride,
        padding_mode=ALL_MODES,
        seed=seed,
        max_examples=15,
    )
    assert result.ok, str(result)
    assert result.to_dict()["settings"]["padding_mode"] == list(ALL_MODES)


def test_reference_passes_every_check_with_every_padding_mode():
    result = cg.verify(
        ref_forward, ref_backward, padding=("same", "explicit"), padding_mode=COPY_MODES, **FAST
    )
    assert result.ok, str(result)
    checks = {r["check"] for r in result.ratios}
    assert {"exact", "value", "adjoint", "finite_difference"} <= checks


def _ignoring_mode(x, w, spec):
    return cg.conv(x, w, **spec_kwargs(spec, padding_mode="zeros"))


def _unfolded_backward(x, w, grad_y, spec):
    grads = cg.conv_backward(x, w, grad_y, **spec_kwargs(spec))
    cropped = cg.conv_backward(x, w, grad_y, **spec_kwargs(spec, padding_mode="zeros"))
    return cropped.input, grads.weight


def _replicate_for_reflect(x, w, spec):
    return cg.conv(x, w, **spec_kwargs(spec, padding_mode="replicate"))


@pytest.mark.parametrize(
    ("forward", "backward", "mode", "output", "cause"),
    [
        (_ignoring_mode, ref_backward, "reflect", "forward", "padding_mode='zeros' puts there"),
        (
            ref_forward,
            _unfolded_backward,
            "replicate",
            "grad_input",
            "border's gradient was cropped instead of folded back",
        ),
        (
            _replicate_for_reflect,
            ref_backward,
            "reflect",
            "forward",
            "padding_mode='replicate' puts there; the spec says padding_mode='reflect'",
        ),
    ],
)
def test_padding_mode_bugs_are_named_on_their_output(forward, backward, mode, output, cause):
    result = cg.verify(forward, backward, padding=("same",), padding_mode=(mode,), **FAST)
    assert ("exact", output) in failure_keys(result)
    failure = next(f for f in result.failures if (f.check, f.output) == ("exact", output))
    assert cause in failure.diagnosis
    assert failure.problem["spec"]["padding_mode"] == mode
    assert f"padding_mode={mode!r})" in failure.reproduce
    assert ("exact", "grad_weight") not in failure_keys(result)


def test_reproduce_snippet_rebuilds_the_padding_mode():
    result = cg.verify(_ignoring_mode, padding=("same",), padding_mode=("circular",), **FAST)
    namespace = {"forward": _ignoring_mode}
    snippet = result.failures[0].reproduce.replace("print(", "rerun = (")
    exec(snippet, namespace)  # the snippet's own problem fails again
    assert namespace["problem"].spec.padding_mode == "circular"
    assert not namespace["rerun"].ok


def test_folded_gradient_bound_counts_every_copy():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 1, 3)), rng.standard_normal((2, 1, 3))
    spec = cg.ConvSpec(padding=2, padding_mode="replicate")
    grad_y = rng.standard_normal((1, 2, 5))
    problem = ConvProblem(x, w, None, grad_y, spec)
    assert problem.input_copies == 3  # each edge element fills two pads
    assert gradient_terms(w.shape, grad_y.shape, 1, problem.input_copies) == (2 * 3 * 3, 5, 5)
    precision = Precision("float32")
    kw = problem.kwargs
    reference = cg.conv_backward(x, w, grad_y, **kw)
    bounds = gradient_bounds(x, w, grad_y, reference, precision=precision, **kw)
    magnitude = cg.conv_backward(np.abs(x), np.abs(w), np.abs(grad_y), **kw).input
    assert np.array_equal(bounds.input, precision.bound(18, magnitude, reference.input))
    assert np.all(bounds.input > precision.bound(6, magnitude, reference.input))
