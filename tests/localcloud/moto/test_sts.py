"""Guards pclab/localcloud/moto/sts.py: the execution role's session through moto's STS."""

from __future__ import annotations

import inspect

import pytest

from localcloud.moto.guard import assert_read_internal_exists
from pclab.localcloud.moto.sts import RoleCredentials

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.sts.models", "sts_backends"),
    ("moto.sts.models", "STSBackend.assume_role"),
    ("moto.core.utils", "utcnow"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)


def test_assume_role_takes_what_we_pass() -> None:
    from moto.sts.models import STSBackend

    wanted = {"region_name", "role_session_name", "role_arn", "policy", "duration", "external_id"}
    assert wanted <= set(inspect.signature(STSBackend.assume_role).parameters)


def test_a_session_per_role_and_function_reused_until_renewed() -> None:
    credentials = RoleCredentials()
    role = "arn:aws:iam::123456789012:role/r"
    first = credentials.environment(role, "fn", "us-east-1")
    assert set(first) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
    assert first["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert credentials.environment(role, "fn", "us-east-1") == first
    assert credentials.environment(role, "other", "us-east-1") != first
