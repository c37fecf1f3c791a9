"""verify's search made independent of the modules loaded in the process.

hypothesis (6.131 and later) draws, with a small probability per choice, numeric constants
collected from the source of every loaded "local" module (outside the standard library and
site-packages, test files excluded: ``hypothesis.internal.conjecture.providers.
_get_local_constants``). The problems one seed draws then change when the caller imports
another module of their project, and a verdict seen in one process may not be seen in another.
hypothesis offers no setting to turn the feature off, so `global_constants_only` swaps, for the
length of a search, the provider registered as the "hypothesis" backend (its documented
registry, ``AVAILABLE_PROVIDERS``) for one that draws only hypothesis' own global constants
(the same for every process). On a hypothesis without the feature it changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["global_constants_only"]

try:
    from hypothesis.internal.conjecture import providers as _providers
    from hypothesis.internal.conjecture.choice import choice_constraints_key, choice_permitted

    _BASE = _providers.HypothesisProvider
    _GLOBAL = _providers.GLOBAL_CONSTANTS
    _BASE._maybe_draw_constant  # noqa: B018 (the feature's hook; absent before 6.131)
except (ImportError, AttributeError):
    _providers = None

_POOLS: dict = {}
"""The permitted global constants per (choice type, constraints key)."""
_POOL_LIMIT = 1024
"""Pools kept before the dict is emptied, as hypothesis' own ``CONSTANTS_CACHE`` keeps."""

if _providers is not None:

    class _GlobalConstantsProvider(_BASE):
        """hypothesis' provider, drawing constants from its global pool only. Its pools are
        its own: hypothesis' shared cache mixes in the local constants."""

        def _maybe_draw_constant(self, choice_type, constraints, *, p: float = 0.05):
            if self._random.random() > p:
                return None
            key = (choice_type, choice_constraints_key(choice_type, constraints))
            pool = _POOLS.get(key)
            if pool is None:
                if len(_POOLS) >= _POOL_LIMIT:
                    _POOLS.clear()
                pool = tuple(
                    choice
                    for choice in _GLOBAL.set_for_type(choice_type)
                    if choice_permitted(choice, constraints)
                )
                _POOLS[key] = pool
            return self._random.choice(pool) if pool else None


_lock = threading.Lock()
_active = [0, None]
"""[searches under way, the provider registered before the first of them]."""


@contextmanager
def global_constants_only() -> Iterator[None]:
    """Within the block, hypothesis searches in this process draw no constants of the loaded
    modules (see the module docstring); nested and concurrent blocks share one swap, undone
    when the last ends."""
    if _providers is None:
        yield
        return
    registry = _providers.AVAILABLE_PROVIDERS
    with _lock:
        if _active[0] == 0:
            _active[1] = registry["hypothesis"]
            registry["hypothesis"] = _GlobalConstantsProvider
        _active[0] += 1
    try:
        yield
    finally:
        with _lock:
            _active[0] -= 1
            if _active[0] == 0:
                registry["hypothesis"] = _active[1]
