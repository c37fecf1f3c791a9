"""The realistic bug zoo: each bug is wrong against the oracle in its own scenario (a test that
does not use verify), and `convgrad.verify` at its default settings reports it with a check of
the bug's and the output it corrupts; the independent correct layer passes every scenario."""

import pytest
from tests.zoo import correct
from tests.zoo.detection import detect

from .bugs import BUGS, SCENARIOS, Bug
from .evidence import problem_for, wrong_outputs

IDS = [bug.name for bug in BUGS]


def test_the_zoo_has_distinct_bugs_in_every_scenario():
    assert len(set(IDS)) == len(BUGS) >= 12
    assert {bug.scenario for bug in BUGS} == set(SCENARIOS)


@pytest.mark.parametrize("bug", BUGS, ids=IDS)
def test_each_bug_is_wrong_against_the_oracle_in_its_scenario(bug: Bug):
    wrong = wrong_outputs(bug, problem_for(bug))
    assert wrong & bug.outputs, wrong


@pytest.mark.parametrize("bug", BUGS, ids=IDS)
def test_the_correct_layer_is_right_in_each_scenario(bug: Bug):
    layer = Bug(
        "correct",
        "none",
        correct.forward,
        correct.backward,
        bug.outputs,
        bug.checks,
        bug.scenario,
        bug.witness,
        data=bug.data,
    )
    assert wrong_outputs(layer, problem_for(bug)) == set()


@pytest.mark.parametrize("bug", BUGS, ids=IDS)
def test_verify_at_defaults_reports_the_bug_on_its_output(bug: Bug):
    result = detect(bug, max_failures=1).result
    assert not result.ok
    failure = result.failures[0]
    assert failure.output in bug.outputs and failure.check in bug.checks, str(result)
