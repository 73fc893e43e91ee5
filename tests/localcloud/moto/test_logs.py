"""Guards pclab/localcloud/moto/logs.py: the Logs half of the telemetry sink."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.logs.models", "logs_backends"),
    ("moto.logs.models", "LogsBackend.create_log_group"),
    ("moto.logs.models", "LogsBackend.create_log_stream"),
    ("moto.logs.models", "LogsBackend.put_log_events"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
