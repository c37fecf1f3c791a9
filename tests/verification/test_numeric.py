import numpy as np

from convgrad.verification.numeric import (
    EXACT_LIMIT,
    is_integer_valued,
    random_direction,
)


def test_is_integer_valued():
    assert is_integer_valued(np.array([1.0, -2.0, 0.0]))
    assert is_integer_valued(np.array([3, 4]))
    assert not is_integer_valued(np.array([1.5]))
    assert not is_integer_valued(np.array([np.nan]))
    assert not is_integer_valued(np.array([2 * EXACT_LIMIT]))
    assert not is_integer_valued(np.array(["a"]))


def test_random_direction_integer_entries_are_minus_one_zero_one():
    rng = np.random.default_rng(3)
    v = random_direction((50,), rng, integer=True)
    assert set(np.unique(v)) <= {-1.0, 0.0, 1.0}
    r = random_direction((50,), rng, integer=False)
    assert r.shape == (50,) and not is_integer_valued(r)
