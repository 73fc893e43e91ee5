"""Guards pclab/localcloud/moto/cloudformation_resources.py: the base our models need of moto."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.cloudformation.exceptions", "UnformattedGetAttTemplateException"),
    ("moto.core.common_models", "CloudFormationModel"),
    ("moto.cloudformation.parsing", "get_model_map"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
