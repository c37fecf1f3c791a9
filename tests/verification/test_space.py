"""The default space (`convgrad.verification.space`) is defined once, documented in one README
table, and used by verify, the CLI and the strategies; explicit pads with stride remainders are
drawn."""

import argparse
import ast
import inspect
import re
from pathlib import Path

from hypothesis import given, settings

import convgrad as cg
from convgrad.commands.verify import add_parser
from convgrad.strategies import conv_problems, conv_specs
from convgrad.verification.space import DEFAULT_SPACE

from .implementations import ref_backward, ref_forward

README = Path(__file__).parents[2] / "README.md"


def test_the_readme_table_is_the_default_space():
    text = README.read_text()
    table = text[text.index("**The default space**") :]
    table = table[: table.index("\n\n", table.index("| argument |"))]
    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", table, flags=re.MULTILINE)
    assert {name: ast.literal_eval(value) for name, value in rows} == DEFAULT_SPACE
    assert len(rows) == len(DEFAULT_SPACE)


def test_verify_defaults_are_the_space():
    parameters = inspect.signature(cg.verify).parameters
    for name, value in DEFAULT_SPACE.items():
        if name != "bias":  # verify's forward takes no bias
            assert parameters[name].default == value, name
    assert "explicit" in DEFAULT_SPACE["padding"]


def test_cli_leaves_the_space_to_verify_and_shows_it_in_its_help():
    parser = add_parser(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args(["m:f"])
    assert (args.mode, args.ndim, args.stride, args.dilation, args.groups) == (None,) * 5
    assert "default valid,same,full,explicit" in " ".join(parser.format_help().split())
    assert args.padding_mode is None
    assert "circular (default zeros)" in " ".join(parser.format_help().split())


def test_the_padding_mode_default_is_part_of_the_one_space():
    assert DEFAULT_SPACE["padding_mode"] == ("zeros",)
    for strategy in (conv_problems, conv_specs):
        default = inspect.signature(strategy).parameters["padding_mode"].default
        assert default is DEFAULT_SPACE["padding_mode"], strategy
    assert (
        inspect.signature(cg.verify).parameters["padding_mode"].default
        is (DEFAULT_SPACE["padding_mode"])
    )


def test_default_space_draws_asymmetric_pads_with_a_stride_remainder():
    seen = set()
    drawn = {k: v for k, v in DEFAULT_SPACE.items() if k not in ("data", "bias")}

    @settings(max_examples=400, database=None)
    @given(conv_problems(**drawn, data="integer", bias=False))
    def collect(problem):
        spec = problem.resolved
        if spec.mode != "explicit":
            return
        for (lo, hi), i, k, s, d in zip(
            spec.padding,
            problem.x.shape[2:],
            problem.w.shape[2:],
            spec.stride,
            spec.dilation,
            strict=True,
        ):
            remainder = (i + lo + hi - d * (k - 1) - 1) % s
            seen.add(("asymmetric" if lo != hi else "symmetric", bool(remainder)))
            if (lo, hi, s) == (1, 1, 2):
                seen.add("padding=1, stride=2")

    collect()
    assert {("asymmetric", True), ("symmetric", True), "padding=1, stride=2"} <= seen


def test_verify_settings_record_the_explicit_default():
    result = cg.verify(ref_forward, ref_backward, max_examples=5)
    assert result.ok and "explicit" in result.settings["padding"]
