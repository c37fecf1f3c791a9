"""Fixtures of the reference's tests."""

import pytest

from convgrad.reference import fast


@pytest.fixture(scope="module")
def blocks_only():
    """The fast path without its one-piece arithmetic for small problems (`fast.WHOLE_BYTES`
    0): the tests of blocks, scratch buffers and merged rows run on small layers, which would
    otherwise never reach them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "WHOLE_BYTES", 0)
        yield
