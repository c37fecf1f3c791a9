"""Import every project module before any test runs.

Hypothesis mixes numeric constants found in the loaded non-test modules of the project into its
draws (``_get_local_constants`` in hypothesis/internal/conjecture/providers.py, rescanned whenever
``sys.modules`` grows). Without this, the problems `convgrad.verify` draws for a seed depended on
which tests ran earlier and had imported, say, the report or the benchmark modules; with every
module loaded up front, each test sees one constant pool whatever the order or selection.
"""

import importlib
import pkgutil

import benchmarks

import convgrad


def _import_all(package) -> None:
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)


_import_all(convgrad)
_import_all(benchmarks)
