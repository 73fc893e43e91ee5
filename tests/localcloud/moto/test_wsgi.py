"""Guards pclab/localcloud/moto/wsgi.py: moto's server app and request handler."""

from __future__ import annotations

import pytest

from localcloud.cloud_helpers import Cloud
from localcloud.moto.guard import (
    assert_patched_internal_keeps_its_shape,
    assert_read_internal_exists,
)

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    ("moto.backends", "list_of_moto_modules"): [],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    ("moto.moto_server.werkzeug_app", "create_backend_app"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)


@pytest.mark.parametrize("key", sorted(PATCHED_SIGNATURES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_patched_internal_keeps_its_shape(cloud: Cloud, key: tuple[str, str]) -> None:
    assert_patched_internal_keeps_its_shape(key, PATCHED_SIGNATURES[key])


def test_the_listing_is_moto_own_listed_once(cloud: Cloud) -> None:
    """What requests are routed by: the same service folders moto lists, e.g. lambda, xray."""
    from moto import backends

    from pclab.localcloud.moto import ORIGINALS

    original = ORIGINALS[("moto.backends", "list_of_moto_modules")]
    assert tuple(backends.list_of_moto_modules()) == tuple(original())
    assert {"awslambda", "stepfunctions", "xray", "logs", "cloudwatch"} <= set(original())
