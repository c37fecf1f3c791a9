"""What is known about a wrong output when no cause is confirmed (`patterns.describe`): which
elements differ, in which pattern (one group, one batch element, the border), and how far."""

import numpy as np
import pytest

import convgrad as cg
from convgrad.verification.patterns import describe

from .implementations import integer_problem


def test_describe_names_one_group_one_batch_element_and_the_border():
    problem = integer_problem((2, 4, 5, 5), (4, 2, 1, 1), groups=2)
    expected = cg.conv(problem.x, problem.w, groups=2)
    bound = np.zeros(expected.shape)
    group = expected.copy()
    group[:, 2:] *= -1
    assert "only group 1's output channels (2-3, block 2 of 2)" in describe(
        problem, "forward", group, expected, bound
    )
    sample = expected.copy()
    sample[1] += 1
    facts = describe(problem, "forward", sample, expected, bound)
    assert "only batch element 1 of 2" in facts
    assert "they are the right answer" not in facts and "the worst is" in facts
    border = expected.copy()
    border[..., 0, 2] = 0
    border[..., 4, 1] = 7
    assert "only at the border" in describe(problem, "forward", border, expected, bound)


def test_describe_of_a_right_output_and_of_mismatched_shapes():
    problem = integer_problem((1, 1, 4), (1, 1, 2))
    y = cg.conv(problem.x, problem.w)
    assert describe(problem, "forward", y, y, np.zeros(y.shape)).startswith("none of 3 elements")
    with pytest.raises(ValueError, match=r"got \(1, 1, 3\), expected \(1, 1, 2\)"):
        describe(problem, "forward", y, y[..., :2], np.zeros(y.shape))
