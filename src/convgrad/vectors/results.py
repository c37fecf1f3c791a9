"""The results layout: a folder with one file per case, ``<id>.npz`` or ``<id>.json``, holding an
implementation's y, grad_input, grad_weight and grad_bias in the vector arrays' format
(`convgrad.vectors.formats`). Also convgrad's own float64 results, to check the set against the
reference that made it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from convgrad.vectors.formats import FORMATS, check_format, write_arrays
from convgrad.vectors.generate import OUTPUTS, case_outputs
from convgrad.vectors.reading import VectorCase, VectorSet


def result_files(directory: Path, case_id: str) -> list[Path]:
    """The files that hold a case's results (normally one; none when it is missing)."""
    return [
        directory / f"{case_id}.{ext}"
        for ext in FORMATS
        if (directory / f"{case_id}.{ext}").is_file()
    ]


def write_results(
    directory: str | Path,
    results: Mapping[str, Mapping[str, np.ndarray]],
    file_format: str = "npz",
) -> Path:
    """Write ``{case id: {output name: array}}`` as a results folder (created if needed).

    Each case's mapping must hold exactly y, grad_input, grad_weight and grad_bias.
    """
    check_format(file_format)
    directory = Path(directory)
    for case_id, outputs in results.items():
        if set(outputs) != set(OUTPUTS):
            raise ValueError(
                f"results[{case_id!r}] holds {sorted(outputs)}; it must hold exactly {OUTPUTS}"
            )
    directory.mkdir(parents=True, exist_ok=True)
    for case_id, outputs in results.items():
        write_arrays(directory / f"{case_id}.{file_format}", outputs, file_format)
    return directory


def reference_case(case: VectorCase, method: str = "fast") -> dict[str, np.ndarray]:
    """convgrad's float64 outputs on a case's inputs (``method`` as in `convgrad.conv`), called
    with the explicit pads of the case's spec (`convgrad.vectors.generate.case_outputs`)."""
    s = case.spec
    kwargs = {
        "padding": s.padding,
        "stride": s.stride,
        "dilation": s.dilation,
        "groups": s.groups,
        "method": method,
    }
    if case.op == "conv":
        kwargs.update(flip=s.flip, padding_mode=s.padding_mode)
    return case_outputs(case.arrays, case.op, case.output_padding, kwargs)


def reference_results(vectors: VectorSet, method: str = "fast") -> dict[str, dict[str, np.ndarray]]:
    """``{case id: outputs}`` of convgrad's float64 arithmetic on every case of a set."""
    return {case.id: reference_case(case, method) for case in vectors.cases}
