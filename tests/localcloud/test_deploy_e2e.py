"""The real scripts deploy the real template into the local cloud, with the real SAM CLI.

Start `pclab local-cloud start --detach` on a free port, create the bucket, run ./sam-package.sh
and ./sam-deploy.sh by subprocess exactly as the README says, and look at the result with boto3
as a user would with the AWS CLI.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from pclab.localcloud.server import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUCKET = "pclab-artifacts"
# Small numbers keep the real environments quick: 2 provisioned, no init sleep.
SMALL = ["--parameter-overrides", "ProvisionedConcurrency=2", "ColdStartDelaySeconds=0"]
LOGICAL_IDS = {
    "LambdaExecutionRole",
    "BaseConcurrencyTestFunction",
    "BaseConcurrencyTestFunctionAliaslive",
    "ProvisionedConcurrencyTestFunction",
    "ProvisionedConcurrencyTestFunctionAliaslive",
    "BaseConcurrencyTestStateMachine",
    "BaseConcurrencyTestStateMachineRole",
    "ProvisionedConcurrencyTestStateMachine",
    "ProvisionedConcurrencyTestStateMachineRole",
}


@dataclass
class Env:
    vars: dict[str, str]
    tmp: Path

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.vars["AWS_ENDPOINT_URL"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def run(self, *command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=cwd, env=self.vars, capture_output=True, text=True, timeout=300
        )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("e2e")
    port = free_port()
    variables = {
        **os.environ,
        "PCLAB_STATE_DIR": str(tmp / "state"),
        "AWS_ENDPOINT_URL": f"http://localhost:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_POLL_DELAY": "0.2",
        "PCLAB_BUILD_DIR": str(tmp / "build"),
        # idle on-demand environments go after 3 s: a run after a pause starts cold again
        "PCLAB_ENV_IDLE_TIMEOUT": "3",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    environment = Env(variables, tmp)
    started = environment.run(
        sys.executable, "-m", "pclab.cli", "local-cloud", "start", "--detach", "--port", str(port)
    )
    assert started.returncode == 0, started.stderr
    try:
        environment.client("s3").create_bucket(Bucket=BUCKET)
        yield environment
    finally:
        environment.run(sys.executable, "-m", "pclab.cli", "local-cloud", "stop")


def sam_resources(packaged: Path, overrides: Sequence[str] = ()) -> dict[str, str]:
    """Logical ID -> type of what the packaged template transforms to (what AWS would create):
    resources whose Condition is false with these parameters (defaults + ``Key=Value``) left out.
    """
    from moto.cloudformation.models import Stack

    from pclab.localcloud.sam_transform import apply_sam_transform

    template = apply_sam_transform(Stack.parse_template(packaged.read_text()))
    parameters = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    parameters.update(o.split("=", 1) for o in overrides if "=" in o)
    conditions: dict[str, Any] = template.get("Conditions", {})

    def holds(expression: Any) -> Any:
        """The few intrinsic functions conditions use: Equals, Not, And, Or, Condition, Ref."""
        if not isinstance(expression, dict):
            return expression
        ((function, argument),) = expression.items()
        if function == "Ref":
            return parameters.get(argument, argument)
        if function == "Condition":
            return holds(conditions[argument])
        values = [holds(a) for a in argument]
        if function == "Fn::Equals":
            return str(values[0]) == str(values[1])
        return {"Fn::Not": lambda: not values[0], "Fn::And": lambda: all(values),
                "Fn::Or": lambda: any(values)}[function]()  # fmt: skip

    return {
        name: spec["Type"]
        for name, spec in template["Resources"].items()
        if "Condition" not in spec or holds({"Condition": spec["Condition"]})
    }


def outputs_of(env: Env, stack: str) -> dict[str, str]:
    described = env.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def run_execution(env: Env, machine: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    sfn = env.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=machine, name=uuid.uuid4().hex, input=json.dumps({"items": items})
    )["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError("execution did not finish in 60 s")


def test_package_deploy_redeploy_update_delete(env: Env) -> None:
    packaged = env.tmp / "packaged.yaml"
    package = env.run("./sam-package.sh", "template.yaml", str(packaged), BUCKET)
    assert package.returncode == 0, package.stdout + package.stderr
    deploy = env.run("./sam-deploy.sh", "pclab", str(packaged), *SMALL)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert "Successfully created/updated stack - pclab" in deploy.stdout

    cfn = env.client("cloudformation")
    assert cfn.describe_stacks(StackName="pclab")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    resources = cfn.list_stack_resources(StackName="pclab")["StackResourceSummaries"]
    ids = {r["LogicalResourceId"] for r in resources}
    versions = {
        i for i in ids if re.fullmatch(r"(Base|Provisioned)ConcurrencyTestFunctionVersion\w{10}", i)
    }
    # the original sample's 11 resources, by their logical IDs
    assert ids >= LOGICAL_IDS and len(versions) == 2
    # and every resource the template transforms to, nothing more or less
    expected = sam_resources(packaged, SMALL[1:])
    assert {r["LogicalResourceId"]: r["ResourceType"] for r in resources} == expected
    assert {r["ResourceStatus"] for r in resources} == {"CREATE_COMPLETE"}

    out = outputs_of(env, "pclab")
    assert set(out) == {
        "BaseConcurrencyTestStateMachineArn",
        "ProvisionedConcurrencyTestStateMachineArn",
        "BaseConcurrencyTestFunctionName",
        "ProvisionedConcurrencyTestFunctionName",
        "BaseConcurrencyTestFunctionAliasArn",
        "ProvisionedConcurrencyTestFunctionAliasArn",
    }
    lam = env.client("lambda")
    for kind in ("Base", "Provisioned"):
        name = out[f"{kind}ConcurrencyTestFunctionName"]
        assert out[f"{kind}ConcurrencyTestFunctionAliasArn"].endswith(f":function:{name}:live")
        config = lam.get_function_configuration(FunctionName=name, Qualifier="live")
        assert config["TracingConfig"]["Mode"] == "Active"
        assert config["Handler"] == "concurrencytest.lambda_handler"
        assert set(config["Environment"]["Variables"]) >= {"COLD_START_DELAY", "FUNCTION_DURATION"}
    pc = lam.get_provisioned_concurrency_config(
        FunctionName=out["ProvisionedConcurrencyTestFunctionName"], Qualifier="live"
    )
    assert (pc["RequestedProvisionedConcurrentExecutions"], pc["Status"]) == (2, "READY")
    assert pc["AvailableProvisionedConcurrentExecutions"] == 2
    reserved = lam.get_function_concurrency(FunctionName=out["BaseConcurrencyTestFunctionName"])
    assert reserved["ReservedConcurrentExecutions"] == 200

    sfn = env.client("stepfunctions")
    for kind in ("Base", "Provisioned"):
        machine = sfn.describe_state_machine(
            stateMachineArn=out[f"{kind}ConcurrencyTestStateMachineArn"]
        )
        assert machine["tracingConfiguration"] == {"enabled": True}
        assert out[f"{kind}ConcurrencyTestFunctionAliasArn"] in machine["definition"]
        assert "${" not in machine["definition"]

    # the code zip sam package uploaded holds the handler and what sam build bundled
    s3 = env.client("s3")
    archives = []
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        if body.startswith(b"PK"):
            archives.append(zipfile.ZipFile(io.BytesIO(body)).namelist())
    assert any(
        "concurrencytest.py" in names and any(n.startswith("aws_xray_sdk/") for n in names)
        for names in archives
    )

    # the state machine runs the real handler through the seam, in one trace per execution
    done = run_execution(
        env,
        out["ProvisionedConcurrencyTestStateMachineArn"],
        [{"id": 1, "durationSeconds": 0}, {"id": 2, "durationSeconds": 0}],
    )
    assert done["status"] == "SUCCEEDED", done
    results = json.loads(done["output"])["results"]
    assert [r["id"] for r in results] == [1, 2]
    assert {r["initType"] for r in results} == {"provisioned-concurrency"}
    assert done["traceHeader"].startswith("Root=1-")

    again = env.run("./sam-deploy.sh", "pclab", str(packaged), *SMALL)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes to deploy. Stack pclab is up to date" in again.stdout

    more = env.run(
        "./sam-deploy.sh",
        "pclab",
        str(packaged),
        "--parameter-overrides",
        "ProvisionedConcurrency=3",
        "ColdStartDelaySeconds=0",
    )
    assert more.returncode == 0, more.stdout + more.stderr
    pc = lam.get_provisioned_concurrency_config(
        FunctionName=out["ProvisionedConcurrencyTestFunctionName"], Qualifier="live"
    )
    assert (pc["RequestedProvisionedConcurrentExecutions"], pc["Status"]) == (3, "READY")
    assert cfn.describe_stacks(StackName="pclab")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"

    delete = env.run("./sam-delete.sh", "pclab")
    assert delete.returncode == 0, delete.stdout + delete.stderr
    assert [
        s["StackStatus"] for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == "pclab"
    ] == ["DELETE_COMPLETE"]
    assert lam.list_functions()["Functions"] == []
    assert sfn.list_state_machines()["stateMachines"] == []
    assert env.client("iam").list_roles()["Roles"] == []


def bad_app(env: Env, name: str, template: str) -> Path:
    folder = env.tmp / name
    folder.mkdir()
    shutil.copytree(REPO / "functions", folder / "functions")
    shutil.copytree(REPO / "statemachine", folder / "statemachine")
    (folder / "template.yaml").write_text(template)
    return folder


def test_bad_templates_fail_visibly_and_leave_nothing(env: Env) -> None:
    lam = env.client("lambda")
    cfn = env.client("cloudformation")
    functions_before = lam.list_functions()["Functions"]
    roles_before = env.client("iam").list_roles()["Roles"]
    original = (REPO / "template.yaml").read_text()

    broken = bad_app(
        env, "broken", original.replace("Resources:\n", "Resources:\n  Oops: [unclosed\n", 1)
    )
    package = env.run(
        str(REPO / "sam-package.sh"), "template.yaml", str(broken / "p.yaml"), BUCKET, cwd=broken
    )
    assert package.returncode != 0
    assert "Error" in package.stdout + package.stderr
    assert not (broken / "p.yaml").exists()

    marker = "  LambdaExecutionRole:\n    Type: AWS::IAM::Role\n    Properties:\n"
    assert marker in original
    unknown = bad_app(env, "unknown", original.replace(marker, marker + "      NotAProperty: 1\n"))
    package = env.run(
        str(REPO / "sam-package.sh"), "template.yaml", str(unknown / "p.yaml"), BUCKET, cwd=unknown
    )
    assert package.returncode == 0, package.stdout + package.stderr
    deploy = env.run(
        str(REPO / "sam-deploy.sh"), "pclab-bad", str(unknown / "p.yaml"), *SMALL, cwd=unknown
    )
    assert deploy.returncode != 0
    shown = deploy.stdout + deploy.stderr
    # SAM CLI wraps the reason into a table column: compare without the wrapping
    assert "extraneouskey[NotAProperty]isnotpermitted" in re.sub(r"[\s|]+", "", shown)
    assert "ROLLBACK_COMPLETE" in shown
    stack = cfn.describe_stacks(StackName="pclab-bad")["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    assert cfn.list_stack_resources(StackName="pclab-bad")["StackResourceSummaries"] == []
    assert lam.list_functions()["Functions"] == functions_before
    assert env.client("iam").list_roles()["Roles"] == roles_before


STRANGER = REPO / "tests" / "fixtures" / "stranger_app"
GRAPH = (
    "  Graph:\n    Type: AWS::AppSync::GraphQLApi\n"
    "    Properties: {Name: g, AuthenticationType: API_KEY}\n"
)


def test_a_strangers_app_deploys_unchanged_and_works(env: Env) -> None:
    """An app written outside pclab: HTTP API, PC on an alias, DynamoDB, a second function."""
    app = env.tmp / "stranger"
    shutil.copytree(STRANGER, app)
    packaged = app / "packaged.yaml"
    own_build = {**env.vars, "PCLAB_BUILD_DIR": str(app / ".aws-sam" / "build")}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, cwd=app, env=own_build, capture_output=True, text=True, timeout=300
        )

    package = run(str(REPO / "sam-package.sh"), "template.yaml", str(packaged), BUCKET)
    assert package.returncode == 0, package.stdout + package.stderr
    deploy = run(str(REPO / "sam-deploy.sh"), "stranger", str(packaged))
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    # every resource the template transforms to exists, with its logical ID, type and physical ID
    cfn = env.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName="stranger")["StackResources"]
    assert {r["LogicalResourceId"]: r["ResourceType"] for r in resources} == sam_resources(packaged)
    assert [r["LogicalResourceId"] for r in resources if not r.get("PhysicalResourceId")] == []
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    api_id = physical["ServerlessHttpApi"]
    assert [a["ApiId"] for a in env.client("apigatewayv2").get_apis()["Items"]] == [api_id]
    out = outputs_of(env, "stranger")
    assert out["ApiUrl"] == f"https://{api_id}.execute-api.us-east-1.amazonaws.com"

    # a direct invoke of the alias: the handler's plain boto3 invokes the second function and
    # writes the table, in the local cloud
    lam = env.client("lambda")
    answer = lam.invoke(
        FunctionName=out["OrderFunctionName"], Qualifier="live", Payload=b'{"id": "direct-1"}'
    )
    assert "FunctionError" not in answer, answer["Payload"].read()
    assert json.loads(json.loads(answer["Payload"].read())["body"])["id"] == "direct-1"
    table = env.client("dynamodb")
    item = table.get_item(TableName=out["TableName"], Key={"id": {"S": "direct-1"}})["Item"]
    assert item["auditedBy"]["S"] == physical["AuditFunction"]

    # the HTTP API on localhost: API Gateway's 2.0 event in, the function's response out
    request = urllib.request.Request(
        f"{env.vars['AWS_ENDPOINT_URL']}/_aws/execute-api/{api_id}/orders",
        data=b'{"id": "http-1"}',
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        assert response.headers["content-type"] == "application/json"
        assert json.loads(response.read())["id"] == "http-1"
    assert table.get_item(TableName=out["TableName"], Key={"id": {"S": "http-1"}})["Item"]
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{env.vars['AWS_ENDPOINT_URL']}/_aws/execute-api/{api_id}/nope")
    assert missing.value.code == 404

    # a type the local cloud cannot create fails the deploy by name, and nothing is left
    bad = app / "bad.yaml"
    bad.write_text(packaged.read_text().replace("Resources:\n", "Resources:\n" + GRAPH, 1))
    refused = run(str(REPO / "sam-deploy.sh"), "stranger-bad", str(bad))
    assert refused.returncode != 0
    shown = refused.stdout + refused.stderr
    # SAM CLI wraps the columns of its event table: the event itself, as DescribeStackEvents has it
    assert re.search(r"CREATE_FAILED\s+AWS::AppSync::GraphQLA\s+Graph\s+Resource Graph", shown)
    failed = [
        (e["LogicalResourceId"], e["ResourceType"], e["ResourceStatusReason"])
        for e in cfn.describe_stack_events(StackName="stranger-bad")["StackEvents"]
        if e["ResourceStatus"] == "CREATE_FAILED"
    ]
    assert len(failed) == 1 and failed[0][:2] == ("Graph", "AWS::AppSync::GraphQLApi")
    assert "is not supported by the local cloud" in failed[0][2]
    assert "ROLLBACK_COMPLETE" in shown
    assert cfn.list_stack_resources(StackName="stranger-bad")["StackResourceSummaries"] == []


def pclab_report(env: Env, out: Path, *arguments: str) -> dict[str, Any]:
    """``pclab run ARGUMENTS --out OUT`` as a user runs it; its report.json."""
    done = env.run(
        sys.executable, "-m", "pclab.cli", "run", *arguments, "--out", str(out), "--no-charts"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report


def test_pclab_measures_the_strangers_function_and_its_url(env: Env) -> None:
    """pclab run --function and --url on the stranger's app (PC 2 on live): 6 calls at once,
    4 of them spill over to on-demand environments whose inits the callers wait for."""
    if "stranger" not in {
        s["StackName"] for s in env.client("cloudformation").describe_stacks()["Stacks"]
    }:
        test_a_strangers_app_deploys_unchanged_and_works(env)
    out = outputs_of(env, "stranger")
    function = out["OrderFunctionName"]

    report = pclab_report(
        env, env.tmp / "by-function", "--function", f"{function}:live", "--items", "6"
    )
    (run,) = report["runs"]
    assert (run["name"], run["function_name"], run["qualifier"]) == (function, function, "live")
    assert run["provisioned_concurrency"] == 2
    assert run["invocations"] == 6
    assert run["cold_starts"] == 4
    assert run["spillover"] == 4
    assert run["errors"] == 0

    # idle on-demand environments are gone after PCLAB_ENV_IDLE_TIMEOUT: the URL run starts cold
    time.sleep(4)
    api_id = out["ApiUrl"].split("//", 1)[1].split(".", 1)[0]
    url = f"{env.vars['AWS_ENDPOINT_URL']}/_aws/execute-api/{api_id}/orders"
    payload = env.tmp / "order.json"
    payload.write_text('{"note": "from pclab"}')
    report = pclab_report(
        env,
        env.tmp / "by-url",
        "--url",
        url,
        "--function",
        f"{function}:live",
        "--payload",
        str(payload),
        "--items",
        "6",
    )
    client = report["http_client"]
    assert client["requests"] == 6 and client["statuses"] == {"201": 6}
    (run,) = report["runs"]
    assert run["invocations"] == 6
    assert run["cold_starts"] == 4
    assert run["spillover"] == 4
