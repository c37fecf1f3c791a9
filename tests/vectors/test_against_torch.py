"""The expected values agree with PyTorch's float64 autograd on every core case: bit for bit on
exact cases, within the stored bound on float cases (an oracle independent of convgrad)."""

import numpy as np
import pytest

from convgrad.vectors import load
from convgrad.vectors.cases import cases
from convgrad.vectors.generate import OUTPUTS

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _torch_outputs(case):
    """Explicit (lo, hi) pads through F.pad (torch.nn.functional.pad lists the last dim first) in
    the case's padding_mode, then conv{1,2,3}d with padding 0; flip rotates the kernel. A
    transposed case: conv_transpose{1,2,3}d without pads, then F.pad's negative pads crop
    (lo, hi - output_padding) (torch takes one symmetric pad per dim)."""
    s = case.spec
    t = {n: torch.tensor(a, requires_grad=n in ("x", "w", "b")) for n, a in case.arrays.items()}
    ndim = len(s.padding)
    if case.op == "conv_transpose":
        transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[ndim - 1]
        full = transpose(t["x"], t["w"], stride=s.stride, groups=s.groups, dilation=s.dilation)
        crop = zip(reversed(s.padding), reversed(case.output_padding), strict=True)
        y = F.pad(full, [p for (lo, hi), op in crop for p in (-lo, op - hi)])
    else:
        pads = [p for lo_hi in reversed(s.padding) for p in lo_hi]
        w = torch.flip(t["w"], dims=tuple(range(2, 2 + ndim))) if s.flip else t["w"]
        conv = (F.conv1d, F.conv2d, F.conv3d)[ndim - 1]
        mode = "constant" if s.padding_mode == "zeros" else s.padding_mode
        x = F.pad(t["x"], pads, mode=mode)
        y = conv(x, w, stride=s.stride, dilation=s.dilation, groups=s.groups)
    y_b = y + t["b"].reshape(1, -1, *([1] * ndim)) if "b" in t else y
    (y_b * t["grad_y"]).sum().backward()
    grad_bias = t["b"].grad if "b" in t else t["grad_y"].sum(dim=(0, *range(2, 2 + ndim)))
    values = (y_b, t["x"].grad, t["w"].grad, grad_bias)
    return {n: v.detach().numpy() for n, v in zip(OUTPUTS, values, strict=True)}


def test_every_core_case_matches_torch(core_npz):
    vector_set = load(core_npz)
    assert [c.id for c in vector_set.cases] == [c.id for c in cases("core")]
    ops = {c.op for c in vector_set.cases}
    modes = {c.spec.padding_mode for c in vector_set.cases}
    assert ops == {"conv", "conv_transpose"}
    assert modes == {"zeros", "reflect", "replicate", "circular"}
    for case in vector_set.cases:
        got = _torch_outputs(case)
        for name in OUTPUTS:
            expected = case.arrays[name]
            assert got[name].shape == expected.shape, (case.id, name)
            if case.kind == "exact":
                assert np.array_equal(got[name], expected), (case.id, name)
            else:
                error = np.abs(got[name] - expected)
                assert np.all(error <= case.arrays[f"{name}_bound"]), (case.id, name)
