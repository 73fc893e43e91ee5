"""Fixtures of the moto guard tests: one local cloud for the whole folder, every patch installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.cloud_helpers import Cloud, running_cloud
from pclab.localcloud import moto as moto_ext


@pytest.fixture(scope="package")
def cloud() -> Iterator[Cloud]:
    """One local cloud serves every guard module here (they only read moto's shape)."""
    yield from running_cloud()


@pytest.fixture(autouse=True)
def all_patches(cloud: Cloud) -> None:
    """The server installs the CloudFormation patches on first use: have them all here."""
    moto_ext.ensure_cloudformation()
