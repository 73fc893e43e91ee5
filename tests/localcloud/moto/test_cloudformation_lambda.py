"""Guards pclab/localcloud/moto/cloudformation_lambda.py: what our Lambda models call of moto."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.awslambda.models", "LambdaFunction.create_from_cloudformation_json"),
    ("moto.awslambda.models", "LambdaFunction.update_from_cloudformation_json"),
    ("moto.awslambda.models", "LambdaBackend.publish_version"),
    ("moto.awslambda.models", "LambdaBackend.create_alias"),
    ("moto.cloudformation.parsing", "parse_resource"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
