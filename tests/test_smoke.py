import numpy as np

import convgrad as cg


def test_readme_example_shapes():
    x = np.random.default_rng(0).standard_normal((1, 3, 12, 12))
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3))
    y = cg.conv(x, w)
    grads = cg.conv_backward(x, w, np.ones_like(y))
    assert y.shape == (1, 4, 10, 10)
    assert grads.input.shape == x.shape
    assert grads.weight.shape == w.shape
    assert grads.bias.shape == (4,)
    assert np.array_equal(grads.bias, np.full(4, 100.0))
