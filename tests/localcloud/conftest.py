"""Fixtures of the local-cloud control-plane tests (helpers in cloud_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.cloud_helpers import Cloud, running_cloud


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    yield from running_cloud()
