"""Conformance vectors: a versioned, hashed set of convolution cases with exact expected outputs,
readable from any language (npz or JSON), and the check of another implementation's results.

Modules, one job each: `cases` (the case table), `generate` (deterministic data and exact
expected values), `hashing` (canonical content hashes), `formats` (array files), `writing`
(`export`: writing a set atomically), `reading` (`load`: reading and verifying one), `results`
(the results layout), `comparison` (`check`: comparing results with a set). No module is named
like a function this package exports, so ``import convgrad.vectors.reading`` gives the module.
"""

from convgrad.vectors.cases import SETS
from convgrad.vectors.comparison import CaseCheck, CheckReport, OutputCheck, check
from convgrad.vectors.formats import FORMATS
from convgrad.vectors.hashing import FORMAT_VERSION, committed_summary
from convgrad.vectors.reading import VectorCase, VectorsError, VectorSet, load
from convgrad.vectors.results import reference_results, write_results
from convgrad.vectors.writing import export, summary

__all__ = [
    "FORMATS",
    "FORMAT_VERSION",
    "SETS",
    "CaseCheck",
    "CheckReport",
    "OutputCheck",
    "VectorCase",
    "VectorSet",
    "VectorsError",
    "check",
    "committed_summary",
    "export",
    "load",
    "reference_results",
    "summary",
    "write_results",
]
