"""Guards pclab/localcloud/moto/lambda_.py: moto's Lambda backend hooks and function records."""

from __future__ import annotations

from typing import Any

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud, make_function
from localcloud.moto.guard import (
    LAMBDA_BACKEND,
    guard_tests,
)
from pclab.localcloud import moto as moto_ext

LAMBDA_RESPONSE = "moto.awslambda.responses.LambdaResponse"
LAMBDA_FUNCTION = "moto.awslambda.models.LambdaFunction"

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (LAMBDA_BACKEND, "delete_function"): ["self", "function_name", "qualifier"],
    (LAMBDA_BACKEND, "delete_alias"): ["self", "name", "function_name"],
    (LAMBDA_BACKEND, "update_alias"): ["self", "name", "function_name", "function_version"],
    (LAMBDA_RESPONSE, "delete_alias"): ["self"],
    (LAMBDA_RESPONSE, "get_alias"): ["self"],
    (LAMBDA_RESPONSE, "update_alias"): ["self"],
    # lambda_snapstart.py (SnapStart's setting, version states, snapshots at publish)
    (LAMBDA_FUNCTION, "__init__"): ["self", "account_id", "spec"],
    (LAMBDA_FUNCTION, "update_configuration"): ["self", "config_updates"],
    (LAMBDA_FUNCTION, "get_configuration"): ["self"],
    (LAMBDA_BACKEND, "publish_version"): ["self", "function_name", "description"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.awslambda.utils", "get_backend"),
]


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_function_records_have_the_fields_we_read(cloud: Cloud) -> None:
    """LambdaStorage layout and LambdaFunction attributes behind MotoFunctionDirectory."""
    fn = make_function(cloud, tracing=True)
    directory = moto_ext.MotoFunctionDirectory(ACCOUNT)
    latest = directory.latest(REGION, fn.name)
    version = directory.version(REGION, fn.name, fn.version)
    assert latest is not None and version is not None
    assert (latest.version, version.version) == ("$LATEST", fn.version)
    assert latest.handler == "app.handler" and latest.runtime == "python3.11"
    assert latest.tracing_active and latest.code_zip.startswith(b"PK")
    assert len(latest.code_sha256) > 20
    assert directory.aliases(REGION, fn.name) == {"live": fn.version}
    assert fn.name in directory.function_names(REGION)


def test_alias_version_and_pc_calls_answer_lambdas_status_codes(cloud: Cloud) -> None:
    """What AWS answers (API reference, recorded responses): moto's 201s for aliases are gone."""
    fn = make_function(cloud, alias=False)
    lam = cloud.client("lambda")
    bodies: dict[str, bytes] = {}

    def keep_body(response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
        bodies[operation_model.name] = response_dict["body"]

    lam.meta.events.register("before-parse.lambda.*", keep_body)

    def status(response: dict[str, Any]) -> int:
        return int(response["ResponseMetadata"]["HTTPStatusCode"])

    answered = {
        "PublishVersion": status(lam.publish_version(FunctionName=fn.name)),
        "CreateAlias": status(
            lam.create_alias(FunctionName=fn.name, Name="live", FunctionVersion=fn.version)
        ),
        "GetAlias": status(lam.get_alias(FunctionName=fn.name, Name="live")),
        "UpdateAlias": status(
            lam.update_alias(FunctionName=fn.name, Name="live", Description="moved")
        ),
        "PutProvisionedConcurrencyConfig": status(
            lam.put_provisioned_concurrency_config(
                FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=1
            )
        ),
        "GetProvisionedConcurrencyConfig": status(
            lam.get_provisioned_concurrency_config(FunctionName=fn.name, Qualifier="live")
        ),
        "DeleteProvisionedConcurrencyConfig": status(
            lam.delete_provisioned_concurrency_config(FunctionName=fn.name, Qualifier="live")
        ),
        "DeleteAlias": status(lam.delete_alias(FunctionName=fn.name, Name="live")),
    }
    assert answered == {
        "PublishVersion": 201,
        "CreateAlias": 201,
        "GetAlias": 200,
        "UpdateAlias": 200,
        "PutProvisionedConcurrencyConfig": 202,
        "GetProvisionedConcurrencyConfig": 200,
        "DeleteProvisionedConcurrencyConfig": 204,
        "DeleteAlias": 204,
    }
    assert bodies["DeleteAlias"] == b""
    assert (
        bodies["UpdateAlias"].startswith(b"{")
        and b'"Description": "moved"' in bodies["UpdateAlias"]
    )
    assert moto_ext.MotoFunctionDirectory(ACCOUNT).aliases(REGION, fn.name) == {}
