"""Guards pclab/localcloud/moto/xray.py: the X-Ray half of the telemetry sink."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.xray.models", "xray_backends"),
    ("moto.xray.models", "XRayBackend.process_segment"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
