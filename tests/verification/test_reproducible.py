"""Same seed, same problems and verdict in any process: verify's search draws no constants from
the modules the caller loaded (`convgrad.verification.reproducible`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convgrad.verification import reproducible

ROOT = Path(__file__).resolve().parents[2]

# A local module (outside site-packages and the standard library, not a test file) full of the
# small integers and fractions verify's strategies draw: hypothesis collects constants from
# such modules and draws them now and then, unless verify's search turns that off.
CONSTANTS = "VALUES = [{}]\n".format(
    ", ".join([str(n) for n in range(-70, 71)] + [f"{k / 16}" for k in range(-16, 17)])
)

SCRIPT = """
import hashlib, json, sys
if len(sys.argv) > 1:
    sys.path.insert(0, sys.argv[1])
    import json.decoder, decimal, fractions, statistics
    import convgrad_user_constants
import convgrad as cg
from tests.verification.implementations import ref_forward

seen = []

def forward(x, w, spec):
    key = repr((x.shape, w.shape, x.dtype.str, spec)).encode() + x.tobytes() + w.tobytes()
    seen.append(hashlib.sha256(key).hexdigest()[:16])
    return ref_forward(x, w, spec)

result = cg.verify(forward, max_examples=12, layers=(), sizes="small", seed=3)
print(json.dumps({"ok": result.ok, "problems": seen}))
"""


def _problems(*argv: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_verify_draws_the_same_problems_whatever_modules_are_loaded(tmp_path):
    (tmp_path / "convgrad_user_constants.py").write_text(CONSTANTS)
    plain = _problems()
    loaded = _problems(str(tmp_path))
    assert plain["ok"] and loaded["ok"]
    assert len(plain["problems"]) > 12
    assert loaded["problems"] == plain["problems"]


def test_the_swap_is_undone_after_nested_blocks():
    providers = reproducible._providers
    if providers is None:
        return
    before = providers.AVAILABLE_PROVIDERS["hypothesis"]
    with reproducible.global_constants_only():
        inside = providers.AVAILABLE_PROVIDERS["hypothesis"]
        with reproducible.global_constants_only():
            assert providers.AVAILABLE_PROVIDERS["hypothesis"] is inside
        assert providers.AVAILABLE_PROVIDERS["hypothesis"] is inside
    assert inside is not before
    assert providers.AVAILABLE_PROVIDERS["hypothesis"] is before


def test_draws_inside_the_block_still_meet_hypothesis_global_constants():
    # The global pool (here: huge integers) is still drawn, so no edge value is lost.
    drawn = []

    @settings(max_examples=300, database=None)
    @given(st.integers())
    def collect(n):
        drawn.append(n)

    with reproducible.global_constants_only():
        collect()
    if reproducible._providers is not None:
        assert any(abs(n) >= 50_000 for n in drawn)
