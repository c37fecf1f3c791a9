"""Strip plots: inline SVG with page-unique ids, exact zeros shown, nothing for no data."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from convgrad.report.plots import strip_plot

_SVG = "{http://www.w3.org/2000/svg}"


def test_strip_plot_is_one_svg_element_with_prefixed_ids():
    svg = strip_plot("forward", [("torch.autograd", [0.0, 1e-3, 0.5]), ("adjoint", [1e-12])], "f0")
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{_SVG}svg"
    ids = re.findall(r'id="([^"]+)"', svg)
    assert ids and all(i.startswith("f0-") for i in ids)
    references = re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", svg)
    assert all((a or b) in ids for a, b in references)
    text = " ".join(t.text or "" for t in root.iter(f"{_SVG}text"))
    assert "torch.autograd" in text and "adjoint" in text
    assert "3 (1 exact)" in text and "bound" in text


def test_two_plots_share_no_id():
    first = strip_plot("forward", [("a", [0.1, 0.2])], "fig0")
    second = strip_plot("forward", [("a", [0.1, 0.2])], "fig1")
    assert not set(re.findall(r'id="([^"]+)"', first)) & set(re.findall(r'id="([^"]+)"', second))


def test_only_exact_and_unbounded_ratios_still_plot():
    svg = strip_plot("grad_bias", [("exact integer", [0.0, 0.0, float("inf")])], "g")
    assert "3 (2 exact), 1 unbounded" in svg


def test_nothing_to_plot_gives_none():
    assert strip_plot("forward", [], "p") is None
    assert strip_plot("forward", [("a", [None])], "p") is None
