"""verify's default space (`convgrad.verification.space`): explicit pads with stride
remainders are drawn, and verify and the CLI take their defaults from it."""

import inspect

from hypothesis import given, settings

import convgrad as cg
from convgrad.commands.verify import add_parser
from convgrad.strategies import conv_problems
from convgrad.verification import space

from .implementations import ref_backward, ref_forward


def test_verify_defaults_are_the_space():
    parameters = inspect.signature(cg.verify).parameters
    for name, value in space.DEFAULT_SPACE.items():
        assert parameters[name].default == value, name
    assert "explicit" in space.PADDING


def test_cli_defaults_are_the_space():
    import argparse

    parser = add_parser(argparse.ArgumentParser().add_subparsers())
    args = parser.parse_args(["m:f"])
    assert args.mode == "valid,same,full,explicit"
    assert (args.ndim, args.stride, args.dilation, args.groups) == ("2", "1,2", "1,2", "1,2")


def test_default_space_draws_asymmetric_pads_with_a_stride_remainder():
    seen = set()

    @settings(max_examples=150, database=None)
    @given(conv_problems(**space.DEFAULT_SPACE, data="integer", bias=False))
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
