import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import convgrad as cg
from convgrad import pytest_plugin, strategies
from convgrad.verification.problem import ConvProblem

pytest_plugins = ["pytester"]

USER_CONV = textwrap.dedent(
    """
    import convgrad as cg

    def _kw(spec):
        return dict(padding=spec.padding, stride=spec.stride, dilation=spec.dilation,
                    groups=spec.groups, flip=spec.flip)

    def my_forward(x, w, spec):
        return cg.conv(x, w, **_kw(spec))

    def my_backward(x, w, grad_y, spec):
        grads = cg.conv_backward(x, w, grad_y, **_kw(spec))
        return grads.input, grads.weight if BROKEN is None else BROKEN * grads.weight

    BROKEN = None
    """
)

ROOT = Path(__file__).parents[1]


def _readme_test() -> str:
    """The README's test file (ten lines that property-test a user's own convolution in CI),
    read from the README so that the file tested is the file shown."""
    text = (ROOT / "README.md").read_text()
    start = text.index("```python\n", text.index("This ten-line file")) + len("```python\n")
    return text[start : text.index("```", start)]


README_TEST = _readme_test()

STRIDED_CONV = (ROOT / "tests" / "verification" / "strided_conv.py").read_text() + (
    "\nmy_forward, my_backward = forward, backward\n"
)
"""A hand-written conv with stride and padding only (NotImplementedError otherwise)."""


def _project(pytester, broken: str = "None"):
    pytester.makepyfile(mylib=USER_CONV.replace("BROKEN = None", f"BROKEN = {broken}"))
    pytester.makepyfile(test_user=README_TEST)
    pytester.syspathinsert()


def test_readme_file_passes_for_a_correct_conv(pytester):
    _project(pytester)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_readme_file_passes_on_a_conv_without_dilation_or_groups(pytester, tmp_path):
    pytester.makepyfile(mylib=STRIDED_CONV, test_user=README_TEST)
    pytester.syspathinsert()
    report = tmp_path / "report"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--convgrad-report={report}")
    result.assert_outcomes(passed=2)
    data = json.loads((report / pytest_plugin.REPORT_JSON).read_text())
    (verified,) = [r for r in data["records"] if r["kind"] == "verify"]
    statuses = {row["feature"]: row["status"] for row in verified["capabilities"]}
    assert statuses["stride 2 with a remainder"] == "supported"
    assert statuses["dilation 2"] == statuses["groups 2"] == "unsupported"
    try:
        from convgrad.report import render_html  # noqa: F401
    except ImportError:  # the HTML renderer is an optional extra
        return
    page = (report / pytest_plugin.REPORT_HTML).read_text()
    assert '<section id="capabilities"' in page
    assert "forward raised NotImplementedError: dilation (2, 2) is not supported" in page


def test_strict_readme_verify_fails_on_that_conv_with_the_causes(pytester):
    strict = README_TEST.replace("max_examples=10)", "max_examples=10, strict=True)", 1)
    pytester.makepyfile(mylib=STRIDED_CONV, test_user=strict)
    pytester.syspathinsert()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    # The unsupported row [1], and the fixed problem with dilation 2 that raised too.
    assert re.search(r"forward does not support dilation > 1: \d failures? \[1[,\]]", text)
    # my_forward is mylib's forward under another name: the snippet imports it by its own.
    assert "E           from mylib import forward\n" in text


def test_readme_file_fails_with_verifys_message_for_a_broken_conv(pytester):
    _project(pytester, broken="2")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert "VerificationError: convgrad.verify: " in text
    assert "FAILED exact on grad_weight" in text
    assert "minimal problem: x (1, 1, 1, 1), w (1, 1, 1, 1)" in text
    assert "grad_weight is the right answer times 2" in text
    assert "reproduce:" in text


def test_report_option_collects_every_check_of_the_session(pytester, tmp_path):
    _project(pytester, broken="2")
    report = tmp_path / "report"
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--convgrad-report={report}")
    result.assert_outcomes(failed=2)
    data = json.loads((report / pytest_plugin.REPORT_JSON).read_text())
    assert data["tool"] == "convgrad" and data["version"] == cg.__version__
    kinds = {(r["test"].split("::")[1], r["kind"], r["ok"]) for r in data["records"]}
    assert ("test_my_conv", "verify", False) in kinds
    assert ("test_my_grad_weight", "assert_conv_matches", False) in kinds
    assert data["summary"]["failed"] == sum(not r["ok"] for r in data["records"]) >= 2
    assert "convgrad: " in result.stdout.str() and "report in" in result.stdout.str()
    try:
        from convgrad.report import render_html  # noqa: F401
    except ImportError:  # the HTML renderer is an optional extra
        assert not (report / pytest_plugin.REPORT_HTML).exists()
    else:
        assert "convgrad pytest session report" in (report / pytest_plugin.REPORT_HTML).read_text()


def test_plugin_is_inert_without_its_fixture_or_option(pytester):
    pytester.makepyfile(test_plain="def test_nothing():\n    assert True\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["plugins: *convgrad-*"])
    assert "convgrad: " not in result.stdout.str()
    assert not list(pytester.path.glob("**/convgrad-report.*"))


def test_strategies_are_re_exported_lazily():
    assert pytest_plugin.conv_problems is strategies.conv_problems
    assert pytest_plugin.conv_specs is strategies.conv_specs
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        pytest_plugin.nothing  # noqa: B018


def _problem(bias: bool = False) -> ConvProblem:
    rng = np.random.default_rng(0)
    x = rng.integers(-3, 4, (2, 2, 6, 5)).astype(np.float64)
    w = rng.integers(-3, 4, (4, 1, 3, 2)).astype(np.float64)
    b = np.array([1.0, -2.0, 0.0, 3.0]) if bias else None
    spec = cg.ConvSpec(padding="same", stride=2, groups=2)
    gy_shape = cg.output_shape(x.shape, w.shape, padding="same", stride=2, groups=2)
    grad_y = rng.integers(-3, 4, gy_shape).astype(np.float64)
    return ConvProblem(x, w, b, grad_y, spec)


def test_reference_and_a_passing_assertion(conv_oracle):
    problem = _problem(bias=True)
    ref = conv_oracle.reference(problem)
    expected_y = cg.conv(problem.x, problem.w, problem.b, **problem.kwargs)
    assert np.array_equal(ref.forward, expected_y)
    assert ref.grad_weight.shape == problem.w.shape
    assert np.array_equal(ref.grad_bias, problem.grad_y.sum(axis=(0, 2, 3)))
    conv_oracle.assert_conv_matches(
        problem,
        forward=ref.forward,
        grad_input=ref.grad_input,
        grad_weight=ref.grad_weight.tolist(),
        grad_bias=ref.grad_bias,
    )


def test_assertion_on_real_data_allows_rounding_within_the_bound(conv_oracle):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 7, 7)), rng.standard_normal((3, 2, 3, 3))
    grad_y = rng.standard_normal((1, 3, 5, 5))
    problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
    y = conv_oracle.reference(problem).forward
    conv_oracle.assert_conv_matches(problem, forward=y * (1 + 2.0**-52))
    with pytest.raises(cg.VerificationError, match="FAILED value on forward"):
        conv_oracle.assert_conv_matches(problem, forward=y * (1 + 1e-6))


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"grad_input": "transpose"}, "FAILED shape on grad_input"),
        ({"grad_weight": "flip"}, "FAILED exact on grad_weight"),
        ({"forward": "nan"}, "FAILED finite on forward"),
        ({"forward": "float32"}, "FAILED dtype on forward"),
        ({"grad_bias": "text"}, "FAILED raised on grad_bias"),
    ],
)
def test_failed_assertion_carries_verifys_report(conv_oracle, given, message):
    problem = _problem()
    ref = conv_oracle.reference(problem)
    ((output, damage),) = given.items()
    value = getattr(ref, output)
    broken = {
        "transpose": lambda a: np.swapaxes(a, -1, -2),
        "flip": lambda a: a[..., ::-1, ::-1],
        "nan": lambda a: np.where(a == a.flat[0], np.nan, a),
        "float32": lambda a: a.astype(np.float32),
        "text": lambda a: ["a"] * len(a),
    }[damage](value)
    with pytest.raises(cg.VerificationError) as raised:
        conv_oracle.assert_conv_matches(problem, **{output: broken})
    text = str(raised.value)
    assert text.startswith("convgrad.verify: 1 failure(s) in 1 problem(s)")
    assert message in text
    assert "minimal problem: x (2, 2, 6, 5), w (4, 1, 3, 2)" in text


def test_assertion_needs_something_to_check(conv_oracle):
    with pytest.raises(ValueError, match="needs at least one of forward"):
        conv_oracle.assert_conv_matches(_problem())


ONE_ASSERTION = textwrap.dedent(
    """
    import numpy as np
    import convgrad as cg
    from convgrad.verification.problem import ConvProblem

    def test_one(conv_oracle):
        x, w, grad_y = np.ones((1, 1, 3)), np.ones((1, 1, 2)), np.ones((1, 1, 2))
        problem = ConvProblem(x, w, None, grad_y, cg.ConvSpec())
        conv_oracle.assert_conv_matches(problem, forward=np.full((1, 1, 2), 2.0))
    """
)


def test_report_replaces_the_previous_sessions_report(pytester, tmp_path):
    pytester.makepyfile(test_one=ONE_ASSERTION)
    path = tmp_path / pytest_plugin.REPORT_JSON
    for run in range(2):
        result = pytester.runpytest_inprocess(
            "-p", "no:cacheprovider", f"--convgrad-report={tmp_path}"
        )
        result.assert_outcomes(passed=1)
        assert result.ret == pytest.ExitCode.OK
        data = json.loads(path.read_text())
        assert data["summary"] == {"checks": 1, "failed": 0}
        if run == 0:
            path.write_text(path.read_text().replace('"checks": 1', '"checks": 7'))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", [pytest_plugin.REPORT_JSON, pytest_plugin.REPORT_HTML])
def test_report_refuses_to_overwrite_a_file_that_is_not_a_convgrad_report(pytester, tmp_path, name):
    pytester.makepyfile(test_one=ONE_ASSERTION)
    foreign = tmp_path / name
    foreign.write_text("my own notes\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--convgrad-report={tmp_path}")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert foreign.read_text() == "my own notes\n"
    line = next(s for s in result.stdout.lines if "report NOT written" in s)
    assert f"(--convgrad-report={tmp_path}): FileExistsError: path='{foreign}' exists" in line
    assert "is not a convgrad report; refusing to overwrite it" in line


XDIST_TESTS = textwrap.dedent(
    """
    import numpy as np
    import pytest
    import convgrad as cg
    from convgrad.verification.problem import ConvProblem

    @pytest.mark.parametrize("scale", [1.0, 2.0, 3.0, 4.0])
    def test_scaled(conv_oracle, scale):
        x, w, grad_y = np.ones((1, 1, 3)), np.ones((1, 1, 2)), np.ones((1, 1, 2))
        problem = ConvProblem(scale * x, w, None, grad_y, cg.ConvSpec())
        conv_oracle.assert_conv_matches(problem, forward=np.full((1, 1, 2), 2.0 * scale))
    """
)


ISOLATION_TEST = textwrap.dedent(
    """
    import numpy as np
    import convgrad as cg

    def test_verify(conv_oracle):
        def forward(x, w, spec):
            return cg.conv(x, w)

        problem = cg.ConvProblem(
            np.ones((1, 1, 3)), np.ones((1, 1, 2)), None, np.ones((1, 1, 2)), cg.ConvSpec()
        )
        result = conv_oracle.verify(forward, problems=[problem]KWARGS)
        assert result.settings["isolation"] == "EXPECTED"
    """
)


@pytest.mark.slow
def test_under_xdist_the_controller_writes_one_report_of_every_workers_records(pytester, tmp_path):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_scaled=XDIST_TESTS)
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-v", "-n", "2", f"--convgrad-report={tmp_path}"
    )
    result.assert_outcomes(passed=4)
    # Both workers ran tests (xdist's load scheduling hands each two at the start).
    assert "[gw0]" in result.stdout.str() and "[gw1]" in result.stdout.str()
    assert "convgrad: 4 checks, 0 failed; report in" in result.stdout.str()
    data = json.loads((tmp_path / pytest_plugin.REPORT_JSON).read_text())
    assert data["summary"] == {"checks": 4, "failed": 0}
    # The records stand in collection order, as without xdist.
    assert [r["test"] for r in data["records"]] == [
        f"test_scaled.py::test_scaled[{s}]" for s in ("1.0", "2.0", "3.0", "4.0")
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {pytest_plugin.REPORT_JSON, pytest_plugin.REPORT_HTML}
    )


@pytest.mark.parametrize(
    ("args", "ini", "kwargs", "expected"),
    [
        ((), "", "", "thread"),
        (("--convgrad-isolation=process",), "", "", "process"),
        ((), "process", "", "process"),
        (("--convgrad-isolation=thread",), "process", "", "thread"),
        (("--convgrad-isolation=process",), "", ", isolation='thread'", "thread"),
    ],
    ids=["default", "flag", "ini", "flag-over-ini", "keyword-over-flag"],
)
def test_isolation_option_reaches_verify(pytester, args, ini, kwargs, expected):
    test = ISOLATION_TEST.replace("KWARGS", kwargs).replace("EXPECTED", expected)
    pytester.makepyfile(test_isolation=test)
    if ini:
        pytester.makeini(f"[pytest]\nconvgrad_isolation = {ini}\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    result.assert_outcomes(passed=1)


def test_isolation_option_refuses_an_unknown_value(pytester):
    pytester.makepyfile(test_plain="def test_nothing():\n    assert True\n")
    pytester.makeini("[pytest]\nconvgrad_isolation = subprocess\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*convgrad_isolation = 'subprocess'*must be one of*"])
    flag = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--convgrad-isolation=fork")
    assert flag.ret == pytest.ExitCode.USAGE_ERROR


def test_plugins_isolations_are_verifys():
    from convgrad.verification.api import ISOLATIONS

    assert pytest_plugin.ISOLATIONS == ISOLATIONS


WRONG_RESULTS = textwrap.dedent(
    """
    import numpy as np
    import convgrad as cg

    def test_wrong_forward(conv_oracle):
        x, w, grad_y = np.ones((1, 1, 3)), np.ones((1, 1, 2)), np.ones((1, 1, 2))
        problem = cg.ConvProblem(x, w, None, grad_y, cg.ConvSpec())
        conv_oracle.assert_conv_matches(problem, forward=np.full((1, 1, 2), 3.0))

    def test_wrong_result_raised_directly():
        x, w, grad_y = np.ones((1, 1, 3)), np.ones((1, 1, 2)), np.ones((1, 1, 2))
        problem = cg.ConvProblem(x, w, None, grad_y, cg.ConvSpec())
        cg.check_outputs(problem, forward=np.full((1, 1, 2), 3.0)).raise_for_failures()
    """
)


def test_a_failed_assertion_shows_the_tests_line_not_convgrads(pytester):
    pytester.makepyfile(test_wrong=WRONG_RESULTS)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--tb=long")
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert (
        ">       conv_oracle.assert_conv_matches(problem, forward=np.full((1, 1, 2), 3.0))" in text
    )
    assert (
        ">       cg.check_outputs(problem, forward=np.full((1, 1, 2), 3.0)).raise_for_failures()"
        in (text)
    )
    for hidden in ("raise VerificationError(str(self))", "result.raise_for_failures()"):
        assert hidden not in text
