"""The patching machinery every module of :mod:`pclab.localcloud.moto` shares, and its state.

Holds :func:`_patch` (replace one moto attribute, remember moto's original), the dispatcher that
sends a call to ours only while a local cloud runs in this process, the registries ``PATCHED`` and
``ORIGINALS`` that ``tests/localcloud/moto/`` checks, and ``_installed``: what :func:`install`
was given (the control plane, the telemetry sink) and which patches are in place.

moto internals: none read or patched here; each service module names its own.
Imports: the standard library and :mod:`pclab.localcloud.lambda_control` (for the type) only,
so every service module can import this without import cycles or moto's start-up cost.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

from pclab.localcloud.lambda_control import LambdaControlPlane

LOG = logging.getLogger("pclab.localcloud")

ACCOUNT_ID = "123456789012"  # moto's default account: every request without other credentials

_installed: dict[str, Any] = {}
_install_lock = threading.RLock()

# Every moto attribute we replace, as (owner, attribute name), and moto's own version of it:
# tests/localcloud/moto/ checks each against the shape we rely on.
PATCHED: list[tuple[str, str]] = []
ORIGINALS: dict[tuple[str, str], Any] = {}


def _dispatcher(original: Callable[..., Any], replacement: Callable[..., Any]) -> Any:
    """Ours while a local cloud runs in this process, moto's own otherwise.

    Patches are process-wide and cannot be taken back safely while moto is serving; this keeps
    other in-process moto users (e.g. ``mock_aws`` in tests) on moto's behaviour once the local
    cloud has stopped.
    """

    def dispatch(*args: Any, **kwargs: Any) -> Any:
        chosen = replacement if _installed.get("active") else original
        return chosen(*args, **kwargs)

    dispatch.__name__ = getattr(replacement, "__name__", "dispatch")
    dispatch.__doc__ = replacement.__doc__
    return dispatch


def _patch(owner: Any, name: str, replacement: Any) -> Any:
    """Replace ``owner.name`` and return the original (AttributeError at once if moto moved it).

    A staticmethod stays one (else Python would pass the instance as its first argument).
    """
    original = getattr(owner, name)
    dispatch = _dispatcher(original, replacement)
    static = isinstance(inspect.getattr_static(owner, name, None), staticmethod)
    setattr(owner, name, staticmethod(dispatch) if static else dispatch)
    label = (
        f"{owner.__module__}.{owner.__qualname__}" if isinstance(owner, type) else owner.__name__
    )
    PATCHED.append((label, name))
    ORIGINALS[(label, name)] = original
    return original


def _control() -> LambdaControlPlane:
    plane: LambdaControlPlane = _installed["control_plane"]
    return plane
