"""Guards pclab/localcloud/moto/cloudformation_events.py:
what stack events, rollback and the PC wait read of moto."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.cloudformation.models", "Stack._add_stack_event"),
    ("moto.cloudformation.parsing", "ResourceMap._delete_resource"),
    ("moto.cloudformation.parsing", "ResourceMap.delete"),
    ("moto.cloudformation.models", "cloudformation_backends"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
