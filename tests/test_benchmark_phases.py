"""The benchmark's phase split: every timed function exists where `PHASES` says, each phase
counts only its own functions' calls, the oracle is left as it was, and the results do not
change while timed (no timing is asserted)."""

import numpy as np
import pytest
from benchmarks import phases

import convgrad as cg
from convgrad.reference import fast


def test_every_phase_names_functions_that_exist():
    """A function renamed in the reference breaks this test, not the split silently."""
    for phase, targets in phases.PHASES.items():
        for module, name in targets:
            owner, attr = (module.np, name[3:]) if name.startswith("np.") else (module, name)
            assert callable(getattr(owner, attr)), f"{phase}: {module.__name__}.{name}"


def test_split_restores_every_timed_function_and_numpy():
    before = {(m, n): getattr(m, n.split(".")[0]) for t in phases.PHASES.values() for m, n in t}
    phases.split(lambda: cg.conv(np.ones((1, 2, 6, 6)), np.ones((3, 2, 3, 3))), calls=2)
    after = {(m, n): getattr(m, n.split(".")[0]) for t in phases.PHASES.values() for m, n in t}
    assert after == before
    assert fast.np is np


def test_split_restores_them_when_the_step_raises():
    def broken():
        fast.np.matmul(np.ones((2, 2)), np.ones((2, 2)))
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        phases.split(broken, calls=1)
    assert fast.np is np and fast._columns.__name__ == "_columns"


def test_forward_alone_spends_time_in_padding_gathers_and_products_only():
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 12, 12)), rng.standard_normal((4, 4, 3, 3))
    spec = cg.ConvSpec(padding=1, stride=2).resolve(x.shape[2:], w.shape[2:])
    split = phases.split(lambda: fast.forward(x, w, spec, (6, 6)), calls=3)
    assert set(split) == {*phases.PHASES, "other", "total"}
    for phase in ("padding", "gathers", "products"):
        assert split[phase] > 0, phase
    for phase in ("validation", "casts", "col2im", "sums"):
        assert split[phase] == 0, phase
    assert split["total"] == pytest.approx(sum(v for k, v in split.items() if k != "total"))


def test_conv_backward_with_a_stride_spends_time_in_col2im_sums_and_validation():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 9, 9)), rng.standard_normal((3, 2, 3, 3))
    gy = rng.standard_normal(cg.output_shape(x.shape, w.shape, stride=2))
    split = phases.split(lambda: cg.conv_backward(x, w, gy, stride=2), calls=2)
    for phase in ("validation", "casts", "col2im", "sums", "products", "gathers"):
        assert split[phase] > 0, phase


def test_results_are_unchanged_while_timed():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal(cg.output_shape(x.shape, w.shape, padding="same"))
    expected = cg.conv_backward(x, w, gy, padding="same")
    seen = []
    phases.split(lambda: seen.append(cg.conv_backward(x, w, gy, padding="same")), calls=2)
    for grads in seen:
        for got, want in zip(grads, expected, strict=True):
            np.testing.assert_array_equal(got, want)
