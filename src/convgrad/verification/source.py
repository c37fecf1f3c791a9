"""Where the user's functions live: the ``module:qualname`` that imports back to the very object
verify was given (for reproduce snippets that run as pasted), and whether an exception was raised
by a ``raise`` statement in the user's own code (for the capability probe: `declines`).
"""

from __future__ import annotations

import dis
import functools
import inspect
import sys
from collections.abc import Callable


def locate(fn: Callable | None) -> str | None:
    """``"module:qualname"`` naming ``fn``, or None when no import gives it back.

    The name is read from ``fn`` or, through ``__wrapped__`` (`functools.wraps`), from the
    function it wraps; it counts only if that module is loaded, is not ``__main__`` (a script
    is not importable under its own name) and its attribute path leads to ``fn`` or the function
    it wraps. Nothing is imported.
    """
    if fn is None:
        return None
    targets = (fn, inspect.unwrap(fn))
    for candidate in targets:
        module = getattr(candidate, "__module__", None)
        qualname = getattr(candidate, "__qualname__", None)
        if not isinstance(module, str) or not isinstance(qualname, str):
            continue
        if module == "__main__" or "<" in qualname or module not in sys.modules:
            continue
        found: object = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if any(found is target for target in targets):
            return f"{module}:{qualname}"
    return None


def import_lines(path: str, name: str) -> list[str]:
    """Python binding ``name`` to the object at ``path`` (``"module:qualname"``)."""
    module, _, qualname = path.partition(":")
    if "." not in qualname:
        return [
            f"from {module} import {qualname} as {name}"
            if qualname != name
            else f"from {module} import {name}"
        ]
    return [f"import {module}", f"{name} = {module}.{qualname}"]


def _root(module: str) -> str:
    return module.partition(".")[0]


def raised_by_user(error: BaseException, fn: Callable) -> bool:
    """Whether ``error`` came from a ``raise`` statement in the package that defines ``fn``:
    the innermost traceback frame belongs to a module of that package and stops at a raise
    instruction (``fn`` seen through `functools.wraps` and `functools.partial`). A ValueError
    that NumPy raised from inside a user's line (a shape mismatch)
    stops at a call instead, so it is not the user's own."""
    target = inspect.unwrap(fn)
    while isinstance(target, functools.partial):
        target = inspect.unwrap(target.func)
    owner = getattr(target, "__module__", None)
    tb = error.__traceback__
    if not isinstance(owner, str) or tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "")
    if not isinstance(module, str) or _root(module) != _root(owner):
        return False
    return any(
        ins.offset == tb.tb_lasti and ins.opname in ("RAISE_VARARGS", "RERAISE")
        for ins in dis.get_instructions(tb.tb_frame.f_code)
    )


def declines(error: BaseException, fn: Callable) -> bool:
    """Whether ``error``, raised by a call of ``fn``, says the implementation does not do what
    it was asked: a NotImplementedError, or a ValueError/TypeError of the user's own
    (`raised_by_user`). Any other exception is a crash: a bug."""
    if isinstance(error, NotImplementedError):
        return True
    return isinstance(error, (ValueError, TypeError)) and raised_by_user(error, fn)


__all__ = ["declines", "import_lines", "locate", "raised_by_user"]
