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
    """Explicit (lo, hi) pads through F.pad (torch.nn.functional.pad lists the last dim first),
    then conv{1,2,3}d with padding 0; flip rotates the kernel."""
    s = case.spec
    t = {n: torch.tensor(a, requires_grad=n in ("x", "w", "b")) for n, a in case.arrays.items()}
    ndim = len(s.padding)
    pads = [p for lo_hi in reversed(s.padding) for p in lo_hi]
    w = torch.flip(t["w"], dims=tuple(range(2, 2 + ndim))) if s.flip else t["w"]
    conv = (F.conv1d, F.conv2d, F.conv3d)[ndim - 1]
    y = conv(F.pad(t["x"], pads), w, stride=s.stride, dilation=s.dilation, groups=s.groups)
    y_b = y + t["b"].reshape(1, -1, *([1] * ndim)) if "b" in t else y
    (y_b * t["grad_y"]).sum().backward()
    grad_bias = t["b"].grad if "b" in t else t["grad_y"].sum(dim=(0, *range(2, 2 + ndim)))
    values = (y_b, t["x"].grad, t["w"].grad, grad_bias)
    return {n: v.detach().numpy() for n, v in zip(OUTPUTS, values, strict=True)}


def test_every_core_case_matches_torch(core_npz):
    vector_set = load(core_npz)
    assert [c.id for c in vector_set.cases] == [c.id for c in cases("core")]
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
