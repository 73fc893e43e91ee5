"""Guards pclab/localcloud/moto/cloudformation_stepfunctions.py:
what our state machine model calls of moto."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.s3.models", "s3_backends"),
    ("moto.stepfunctions.utils", "cfn_to_api_tags"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
