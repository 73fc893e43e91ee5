"""Lambda's concurrency API on the local cloud answers as AWS does, error code and message.

Expected answers come from real AWS responses (tests/localcloud/data, recorded by a peer project's
AWS-validated suite); placeholders are filled with this test's function and account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud, error_of, make_function

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parent / "data" / "lambda-concurrency-responses.json").read_text()
)["cases"]


def expected(case: str, function_name: str = "doesnotexist") -> tuple[int, str, str]:
    recorded = RECORDED[case]
    message = (
        recorded["message"]
        .replace(
            "arn:<partition>:lambda:<region>:111111111111", f"arn:aws:lambda:{REGION}:{ACCOUNT}"
        )
        .replace("<function-name:1>", function_name)
        .replace("<min_unreserved_concurrency>", "100")
    )
    return recorded["status"], recorded["code"], message


def run_error_case(cloud: Cloud, case: str, call: Callable[[Any, str], Any]) -> None:
    fn = make_function(cloud, alias=False)
    lam = cloud.client("lambda", validate=False)
    assert error_of(lambda: call(lam, fn.name)) == expected(case, fn.name)


ERROR_CASES: dict[str, Callable[[Any, str], Any]] = {
    "test_function_concurrency_exceptions/put_function_concurrency_with_function_name_doesnotexist": (  # noqa: E501
        lambda lam, fn: lam.put_function_concurrency(
            FunctionName="doesnotexist", ReservedConcurrentExecutions=1
        )
    ),
    "test_function_concurrency_exceptions/put_function_concurrency_with_function_name_doesnotexist_and_invalid_concurrency": (  # noqa: E501
        lambda lam, fn: lam.put_function_concurrency(
            FunctionName="doesnotexist", ReservedConcurrentExecutions=2000
        )
    ),
    "test_function_concurrency_exceptions/put_function_concurrency_with_qualified_arn": (
        lambda lam, fn: lam.put_function_concurrency(
            FunctionName=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}:1",
            ReservedConcurrentExecutions=1,
        )
    ),
    "test_provisioned_concurrency_exceptions/get_provisioned_config_doesnotexist": (
        lambda lam, fn: lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier="1")
    ),
    "test_provisioned_concurrency_exceptions/get_provisioned_functionname_doesnotexist": (
        lambda lam, fn: lam.get_provisioned_concurrency_config(
            FunctionName="doesnotexist", Qualifier="noalias"
        )
    ),
    "test_provisioned_concurrency_exceptions/get_provisioned_qualifier_doesnotexist": (
        lambda lam, fn: lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier="noalias")
    ),
    "test_provisioned_concurrency_exceptions/get_provisioned_version_doesnotexist": (
        lambda lam, fn: lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier="10")
    ),
    "test_provisioned_concurrency_exceptions/get_provisioned_latest": (
        lambda lam, fn: lam.get_provisioned_concurrency_config(FunctionName=fn, Qualifier="$LATEST")
    ),
    "test_provisioned_concurrency_exceptions/list_provisioned_functionname_doesnotexist": (
        lambda lam, fn: lam.list_provisioned_concurrency_configs(FunctionName="doesnotexist")
    ),
    "test_provisioned_concurrency_exceptions/delete_provisioned_functionname_doesnotexist": (
        lambda lam, fn: lam.delete_provisioned_concurrency_config(
            FunctionName="doesnotexist", Qualifier="1"
        )
    ),
    "test_provisioned_concurrency_exceptions/delete_provisioned_qualifier_doesnotexist": (
        lambda lam, fn: lam.delete_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="noalias"
        )
    ),
    "test_provisioned_concurrency_exceptions/delete_provisioned_version_doesnotexist": (
        lambda lam, fn: lam.delete_provisioned_concurrency_config(FunctionName=fn, Qualifier="10")
    ),
    "test_provisioned_concurrency_exceptions/delete_provisioned_latest": (
        lambda lam, fn: lam.delete_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="$LATEST"
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_invalid_param_0": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="1", ProvisionedConcurrentExecutions=0
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_functionname_doesnotexist_alias": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_functionname_doesnotexist_version": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_qualifier_doesnotexist": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="doesnotexist", ProvisionedConcurrentExecutions=1
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_version_doesnotexist": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="10", ProvisionedConcurrentExecutions=1
        )
    ),
    "test_provisioned_concurrency_exceptions/put_provisioned_latest": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    ),
    "test_function_concurrency_limits/put_function_concurrency_account_limit_exceeded": (
        lambda lam, fn: lam.put_function_concurrency(
            FunctionName=fn, ReservedConcurrentExecutions=1001
        )
    ),
    "test_function_concurrency_limits/put_function_concurrency_below_unreserved_min_value": (
        lambda lam, fn: lam.put_function_concurrency(
            FunctionName=fn, ReservedConcurrentExecutions=901
        )
    ),
    "test_provisioned_concurrency_limits/put_provisioned_concurrency_below_unreserved_min_value": (
        lambda lam, fn: lam.put_provisioned_concurrency_config(
            FunctionName=fn, Qualifier="1", ProvisionedConcurrentExecutions=901
        )
    ),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_answers_match_aws(cloud: Cloud, case: str) -> None:
    run_error_case(cloud, case, ERROR_CASES[case])


def test_pc_above_unreserved_names_the_unreserved_count(cloud: Cloud) -> None:
    fn = make_function(cloud, alias=False)
    status, code, message = error_of(
        lambda: cloud.client("lambda").put_provisioned_concurrency_config(
            FunctionName=fn.name, Qualifier="1", ProvisionedConcurrentExecutions=1001
        )
    )
    recorded = expected(
        "test_provisioned_concurrency_limits/put_provisioned_concurrency_account_limit_exceeded"
    )
    assert (status, code) == recorded[:2]
    unreserved = cloud.control.unreserved(REGION)
    assert message == recorded[2].replace("<unreserved_concurrency>", str(unreserved))


def test_reserved_concurrency_lifecycle(cloud: Cloud) -> None:
    fn = make_function(cloud, alias=False)
    lam = cloud.client("lambda")
    for value in (0, 1):
        put = lam.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=value)
        assert put["ReservedConcurrentExecutions"] == value
    assert lam.get_function_concurrency(FunctionName=fn.name)["ReservedConcurrentExecutions"] == 1
    assert lam.get_function(FunctionName=fn.name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 1
    }
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lam.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=11)
    after = lam.get_account_settings()["AccountLimit"]
    assert after["ConcurrentExecutions"] == 1000
    assert after["UnreservedConcurrentExecutions"] == before - 10
    deleted = lam.delete_function_concurrency(FunctionName=fn.name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=fn.name)


def test_provisioned_lifecycle_on_version_and_alias(cloud: Cloud) -> None:
    fn = make_function(cloud, alias=False)
    lam = cloud.client("lambda")
    put = lam.put_provisioned_concurrency_config(
        FunctionName=fn.name, Qualifier=fn.version, ProvisionedConcurrentExecutions=1
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    shape = {k: v for k, v in put.items() if k not in ("ResponseMetadata", "LastModified")}
    recorded = RECORDED["test_lambda_provisioned_lifecycle/put_provisioned_on_version"]["body"]
    assert shape == {k: v for k, v in recorded.items() if k != "LastModified"}
    lam.create_alias(FunctionName=fn.name, Name="live", FunctionVersion=fn.version)
    assert error_of(
        lambda: lam.put_provisioned_concurrency_config(
            FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=1
        )
    ) == expected("test_lambda_provisioned_lifecycle/put_provisioned_on_alias_versionconflict")
    lam.delete_provisioned_concurrency_config(FunctionName=fn.name, Qualifier=fn.version)
    assert error_of(
        lambda: lam.get_provisioned_concurrency_config(FunctionName=fn.name, Qualifier=fn.version)
    ) == expected("test_lambda_provisioned_lifecycle/get_provisioned_version_postdelete")
    lam.put_provisioned_concurrency_config(
        FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert error_of(
        lambda: lam.put_provisioned_concurrency_config(
            FunctionName=fn.name, Qualifier=fn.version, ProvisionedConcurrentExecutions=1
        )
    ) == expected("test_lambda_provisioned_lifecycle/put_provisioned_on_version_conflict", fn.name)
    # Without an execution-environment layer there is nothing to initialise: READY at once.
    got = lam.get_provisioned_concurrency_config(FunctionName=fn.name, Qualifier="live")
    assert (got["Status"], got["AvailableProvisionedConcurrentExecutions"]) == ("READY", 1)
    listed = lam.list_provisioned_concurrency_configs(FunctionName=fn.name)[
        "ProvisionedConcurrencyConfigs"
    ]
    assert [c["FunctionArn"] for c in listed] == [f"{fn.arn}:live"]
    lam.delete_alias(FunctionName=fn.name, Name="live")
    status, code, message = error_of(
        lambda: lam.get_provisioned_concurrency_config(FunctionName=fn.name, Qualifier="live")
    )
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Cannot find alias arn: {fn.arn}:live"
    assert (
        lam.list_provisioned_concurrency_configs(FunctionName=fn.name)[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )


def test_pc_cannot_exceed_the_functions_reservation(cloud: Cloud) -> None:
    fn = make_function(cloud)
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=2)
    status, code, message = error_of(
        lambda: lam.put_provisioned_concurrency_config(
            FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=3
        )
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "should not be greater than the reservedConcurrentExecution" in message
    ok = lam.put_provisioned_concurrency_config(
        FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert ok["RequestedProvisionedConcurrentExecutions"] == 2


def test_deleting_the_function_removes_its_configs(cloud: Cloud) -> None:
    fn = make_function(cloud)
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=5)
    lam.put_provisioned_concurrency_config(
        FunctionName=fn.name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    before = cloud.control.unreserved(REGION)
    lam.delete_function(FunctionName=fn.name)
    assert cloud.control.unreserved(REGION) == before + 5
    assert error_of(lambda: lam.list_provisioned_concurrency_configs(FunctionName=fn.name))[1] == (
        "ResourceNotFoundException"
    )


def test_moto_reset_also_resets_the_control_plane(cloud: Cloud) -> None:
    import urllib.request

    fn = make_function(cloud)
    lam = cloud.client("lambda")
    lam.put_function_concurrency(FunctionName=fn.name, ReservedConcurrentExecutions=300)
    assert cloud.control.unreserved(REGION) <= 700
    request = urllib.request.Request(f"{cloud.url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    assert cloud.control.unreserved(REGION) == 1000
    assert lam.get_account_settings()["AccountUsage"]["FunctionCount"] == 0
