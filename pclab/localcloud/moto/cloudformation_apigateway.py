"""HTTP APIs: the CloudFormation models of ``AWS::ApiGatewayV2::Api`` / ``Stage``, and their routes.

Also ``AWS::Lambda::Permission`` (the grant SAM adds for each API event): moto's model adds the
statement but has no physical ID, so the resource showed none; ours names the statement as
CloudFormation does (the generated name is its ``Sid`` and physical ID) and removes it on delete.

moto's CloudFormation has no model for either type, so an ``HttpApi`` event of a SAM function
made nothing (and the stack said CREATE_COMPLETE). These models create the API in moto's
API Gateway v2 backend, from the OpenAPI ``Body`` SAM's transform writes (moto's ``import_api``
makes its routes and Lambda proxy integrations) or from ``Name``/``ProtocolType``, and its stages.
:func:`http_api_route` finds the route a request takes, for :mod:`pclab.localcloud.api_gateway`,
which serves the APIs over HTTP and invokes their functions through the invocation seam.

moto internals read, and why: ``moto.apigatewayv2.models.apigatewayv2_backends[account][region]``
with ``create_api`` / ``get_api`` / ``delete_api`` / ``create_stage`` / ``delete_stage``,
``Api.import_api`` / ``api_id`` / ``protocol_type`` / ``stages`` / ``routes`` /
``integrations``, ``Route.route_key`` / ``target``, ``Integration.integration_uri`` /
``payload_format_version``; for the permission, ``moto.awslambda.utils.get_backend`` with
``get_function(...).policy.add_statement`` / ``del_statement``. Nothing is patched here: the
models are put in moto's model map by
:mod:`.cloudformation_stacks`. Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pclab.localcloud.moto._patching import ACCOUNT_ID
from pclab.localcloud.moto.cloudformation_resources import _DeclaredModel, _OwnResource

# arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations
_LAMBDA_URI = re.compile(
    r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations$"
)


def _backend(account_id: str, region: str) -> Any:
    from moto.apigatewayv2.models import apigatewayv2_backends

    return apigatewayv2_backends[account_id][region]


@dataclass
class _ApiResource(_OwnResource):
    """Ref = the API's ID, as CloudFormation's; GetAtt ApiEndpoint is AWS's URL for it."""

    api_id: str
    region: str

    @property
    def physical_resource_id(self) -> str:
        return self.api_id

    def attributes(self) -> dict[str, str]:
        return {
            "ApiId": self.api_id,
            "ApiEndpoint": f"https://{self.api_id}.execute-api.{self.region}.amazonaws.com",
        }


@dataclass
class _NamedResource(_OwnResource):
    """A resource whose Ref is a name and that has no attributes: a stage, a permission's Sid."""

    name: str

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def attributes(self) -> dict[str, str]:
        return {}


def _import_body(api: Any, body: Any) -> None:
    """Routes and integrations from the OpenAPI body (moto's import also drops stages: kept)."""
    text = body if isinstance(body, str) else json.dumps(body)
    stages = dict(api.stages)
    api.import_api(text, fail_on_warnings=False)
    api.stages.update(stages)


def _make_api_gateway_models(base: type) -> list[type]:
    """Our HTTP API models: direct subclasses of ``base`` (CloudFormationModel)."""

    class CfnHttpApi(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::ApiGatewayV2::Api``: from an OpenAPI Body (SAM's) or Name and ProtocolType."""

        CFN_TYPE = "AWS::ApiGatewayV2::Api"
        CFN_ATTRIBUTES = ("ApiId", "ApiEndpoint")

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Name"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            api = _backend(account_id, region_name).create_api(
                api_key_selection_expression=None,
                cors_configuration=properties.get("CorsConfiguration"),
                description=properties.get("Description"),
                disable_schema_validation=None,
                disable_execute_api_endpoint=properties.get("DisableExecuteApiEndpoint"),
                name=properties.get("Name", resource_name),
                protocol_type=properties.get("ProtocolType", "HTTP"),
                route_selection_expression=None,
                tags=properties.get("Tags") or {},
                version=properties.get("Version"),
            )
            if "Body" in properties:
                _import_body(api, properties["Body"])
            return _ApiResource(api_id=api.api_id, region=region_name)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            if "Body" in properties:
                api = _backend(account_id, region_name).get_api(original_resource.api_id)
                _import_body(api, properties["Body"])
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            _backend(account_id, region_name).delete_api(resource_name)

    class CfnHttpApiStage(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::ApiGatewayV2::Stage`` (``$default`` is the one SAM makes for an HttpApi)."""

        CFN_TYPE = "AWS::ApiGatewayV2::Stage"
        CFN_ATTRIBUTES = ()

        @staticmethod
        def cloudformation_name_type() -> str:
            return "StageName"

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            properties = cloudformation_json["Properties"]
            api_id = str(properties["ApiId"])
            name = str(properties.get("StageName", resource_name))
            config = {
                "stageName": name,
                "autoDeploy": properties.get("AutoDeploy"),
                "stageVariables": properties.get("StageVariables") or {},
                "tags": properties.get("Tags") or {},
            }
            _backend(account_id, region_name).create_stage(api_id, config)
            return _NamedResource(name)

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Any,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Any:
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            api_id = cloudformation_json.get("Properties", {}).get("ApiId")
            if isinstance(api_id, str):  # the API's own deletion takes its stages with it
                with contextlib.suppress(Exception):
                    _backend(account_id, region_name).delete_stage(api_id, resource_name)

    class CfnLambdaPermission(_DeclaredModel, base):  # type: ignore[misc]
        """``AWS::Lambda::Permission``: a statement of the function's policy, named."""

        CFN_TYPE = "AWS::Lambda::Permission"
        CFN_ATTRIBUTES = ()

        @staticmethod
        def cloudformation_name_type() -> str:
            return "Permission"  # no such property: the statement is always given a generated name

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Any:
            from moto.awslambda.utils import get_backend

            properties = cloudformation_json["Properties"]
            function = get_backend(account_id, region_name).get_function(properties["FunctionName"])
            function.policy.add_statement(json.dumps({**properties, "StatementId": resource_name}))
            return _NamedResource(resource_name)

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            from moto.awslambda.utils import get_backend

            name = cloudformation_json.get("Properties", {}).get("FunctionName")
            with contextlib.suppress(Exception):  # the function may be gone already
                get_backend(account_id, region_name).get_function(name).policy.del_statement(
                    resource_name
                )

    return [CfnHttpApi, CfnHttpApiStage, CfnLambdaPermission]


@dataclass(frozen=True)
class HttpApiRoute:
    """Where a request to an HTTP API goes: the function (ARN, maybe qualified) and the format."""

    api_id: str
    stage: str
    route_key: str  # "POST /orders", "ANY /{proxy+}", "$default"
    function_arn: str
    payload_format_version: str  # "2.0" or "1.0"
    path_parameters: dict[str, str]
    raw_path: str  # the path without the stage


def http_api_route(api_id: str, method: str, path: str) -> HttpApiRoute | str:
    """The route an HTTP API request takes, or why there is none (API Gateway's 404 message).

    ``path`` starts after the host: ``/<stage>/<path>``, or ``/<path>`` on the ``$default`` stage.
    """
    from moto.apigatewayv2.exceptions import ApiNotFound

    try:
        api = _backend(ACCOUNT_ID, "us-east-1").get_api(api_id)  # the local cloud's one region
    except ApiNotFound:
        return "Not Found"
    stages = set(api.stages)
    first, _, rest = path.lstrip("/").partition("/")
    if first in stages and first != "$default":
        stage, raw = first, "/" + rest
    elif "$default" in stages:
        stage, raw = "$default", path or "/"
    else:
        return "Not Found"
    for route in _routes_by_precedence(api):
        parameters = _match(route.route_key, method, raw)
        if parameters is None:
            continue
        integration = api.integrations.get(str(route.target or "").removeprefix("integrations/"))
        found = _LAMBDA_URI.match(str(getattr(integration, "integration_uri", "") or ""))
        function_arn = found.group(1) if found else ""
        if not function_arn.startswith("arn:"):
            return "Internal Server Error"
        version = str(integration.payload_format_version or "2.0")
        return HttpApiRoute(api_id, stage, route.route_key, function_arn, version, parameters, raw)
    return "Not Found"


def _routes_by_precedence(api: Any) -> list[Any]:
    """API Gateway's order: exact paths before greedy ones, a method before ANY, $default last."""

    def rank(route: Any) -> tuple[int, int, int]:
        key = str(route.route_key)
        if key == "$default":
            return (2, 0, 0)
        method, _, path = key.partition(" ")
        return (1 if "+}" in path else 0, 1 if method == "ANY" else 0, -len(path))

    return sorted(api.routes.values(), key=rank)


def _match(route_key: str, method: str, path: str) -> dict[str, str] | None:
    if route_key == "$default":
        return {}
    wanted_method, _, template = route_key.partition(" ")
    if wanted_method not in ("ANY", method.upper()):
        return None
    pattern = ""
    for part in template.strip("/").split("/"):
        greedy = re.fullmatch(r"\{(\w+)\+\}", part)
        single = re.fullmatch(r"\{(\w+)\}", part)
        if greedy:
            pattern += rf"/(?P<{greedy.group(1)}>.+)"
        elif single:
            pattern += rf"/(?P<{single.group(1)}>[^/]+)"
        elif part:
            pattern += "/" + re.escape(part)
    found = re.fullmatch(pattern or "/", path.rstrip("/") or "/")
    return None if found is None else dict(found.groupdict())
