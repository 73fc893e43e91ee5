"""Guards pclab/localcloud/moto/cloudformation_apigateway.py: what the HTTP API models read."""

from __future__ import annotations

import pytest

from localcloud.moto.guard import assert_read_internal_exists

# (module, dotted attribute) read without replacing (nothing of moto is patched there)
READ_INTERNALS = [
    ("moto.apigatewayv2.models", "apigatewayv2_backends"),
    ("moto.apigatewayv2.models", "ApiGatewayV2Backend.create_api"),
    ("moto.apigatewayv2.models", "ApiGatewayV2Backend.get_api"),
    ("moto.apigatewayv2.models", "ApiGatewayV2Backend.delete_api"),
    ("moto.apigatewayv2.models", "ApiGatewayV2Backend.create_stage"),
    ("moto.apigatewayv2.models", "ApiGatewayV2Backend.delete_stage"),
    ("moto.apigatewayv2.models", "Api.import_api"),
    ("moto.apigatewayv2.exceptions", "ApiNotFound"),
    ("moto.awslambda.utils", "get_backend"),
    ("moto.awslambda.policy", "Policy.add_statement"),
    ("moto.awslambda.policy", "Policy.del_statement"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)
