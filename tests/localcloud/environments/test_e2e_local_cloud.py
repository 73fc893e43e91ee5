"""End to end over HTTP: boto3 → local cloud (moto, control plane) → our environments → the RIC.

The real sample handler, deployed with the Lambda API as SAM would leave it (version, alias,
reserved and provisioned concurrency), invoked with Invoke and through the project's real state
machine definition; what the user reads back (payloads, X-Ray, CloudWatch Logs) is checked.
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from pclab.localcloud.server import LocalCloud

from .conftest import REPO, assert_gone, children_of

pytestmark = pytest.mark.slow
REGION = "us-east-1"


class Live:
    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.cloud.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(
                retries={"total_max_attempts": 1}, max_pool_connections=64, read_timeout=120
            ),
        )

    def deploy(self, *, init: float, work: float, reserved: int | None, pc: int | None) -> str:
        """The sample function as a SAM deploy leaves it; returns the alias ARN."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(
                "concurrencytest.py", (REPO / "functions" / "concurrencytest.py").read_text()
            )
        lam, iam = self.client("lambda"), self.client("iam")
        name = f"sample-{uuid.uuid4().hex[:8]}"
        role = iam.create_role(RoleName=f"r-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=role,
            Handler="concurrencytest.lambda_handler",
            Code={"ZipFile": buf.getvalue()},
            Timeout=30,
            MemorySize=128,
            TracingConfig={"Mode": "Active"},
            Environment={
                "Variables": {"COLD_START_DELAY": str(init), "FUNCTION_DURATION": str(work)}
            },
        )
        version = lam.publish_version(FunctionName=name)["Version"]
        alias_arn: str = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)[
            "AliasArn"
        ]
        if reserved is not None:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        if pc is not None:
            lam.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=pc
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
                if got["Status"] == "READY":
                    break
                time.sleep(0.1)
            assert got["Status"] == "READY", got
            assert got["AvailableProvisionedConcurrentExecutions"] == pc
        return alias_arn

    def state_machine(self, alias_arn: str, load_mode: str = "INLINE") -> str:
        """The project's definition with the substitutions SAM would make."""
        definition = (REPO / "statemachine" / "concurrency_test_state_machine.asl.json").read_text()
        definition = definition.replace("${FunctionAliasArn}", alias_arn)
        definition = definition.replace("${MapMaxConcurrency}", "0")
        definition = definition.replace("${LoadMode}", load_mode)
        iam, role_name = self.client("iam"), f"sm-{uuid.uuid4().hex[:8]}"
        role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        # what the template's state machine role allows (the local cloud checks it, as AWS does)
        allow = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": alias_arn}
        iam.put_role_policy(
            RoleName=role_name,
            PolicyName="invoke",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
        )
        arn: str = self.client("stepfunctions").create_state_machine(
            name=f"sm-{uuid.uuid4().hex[:8]}", definition=definition, roleArn=role
        )["stateMachineArn"]
        return arn

    def execute(self, machine: str, items: list[dict[str, Any]]) -> tuple[str, list[Any]]:
        """Run one execution to its end; (execution ARN, per-item results)."""
        sfn = self.client("stepfunctions")
        execution: str = sfn.start_execution(
            stateMachineArn=machine,
            name=f"run-{uuid.uuid4().hex[:8]}",
            input=json.dumps({"items": items}),
        )["executionArn"]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.25)
        assert described["status"] == "SUCCEEDED", described
        return execution, json.loads(described["output"])["results"]


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    before = set(children_of(os.getpid()))
    cloud = LocalCloud(0, with_execution_layer=True)
    cloud.start()
    assert cloud.has_execution_layer
    try:
        yield Live(cloud)
    finally:
        helpers = [p for p in children_of(os.getpid()) if p not in before]
        layer = cloud.control.execution_layer if cloud.control else None
        pids = layer.environment_pids() if layer is not None else []  # type: ignore[attr-defined]
        cloud.stop()
        assert_gone(pids + helpers)


def test_invoke_api_pc_spillover_logs_and_traces(live: Live) -> None:
    alias = live.deploy(init=0.3, work=0.3, reserved=20, pc=4)
    lam = live.client("lambda")

    def call(i: int) -> dict[str, Any]:
        r = lam.invoke(FunctionName=alias, Payload=json.dumps({"item": {"id": i}}), LogType="Tail")
        assert "FunctionError" not in r, r["Payload"].read()
        doc: dict[str, Any] = json.loads(r["Payload"].read())
        doc["_tail"] = r.get("LogResult")
        return doc

    with ThreadPoolExecutor(8) as pool:
        docs = list(pool.map(call, range(8)))
    by_type = [d["initializationType"] for d in docs]
    assert by_type.count("provisioned-concurrency") == 4 and by_type.count("on-demand") == 4
    assert all(d["_tail"] for d in docs)

    name = alias.split(":")[6]
    logs = live.client("logs")
    deadline = time.monotonic() + 10
    reports: list[str] = []
    while time.monotonic() < deadline:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern="REPORT")
        reports = [e["message"] for e in events["events"]]
        if len(reports) >= 8:
            break
        time.sleep(0.2)
    assert len(reports) == 8
    assert sum("Init Duration" in m for m in reports) == 4, "the 4 spillover cold starts only"

    xray = live.client("xray")
    trace_ids = {m.split("XRAY TraceId: ")[1].split("\t")[0] for m in reports}
    assert len(trace_ids) == 8
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = []
        ids = sorted(trace_ids)
        for i in range(0, len(ids), 5):
            for trace in xray.batch_get_traces(TraceIds=ids[i : i + 5])["Traces"]:
                found.extend(json.loads(s["Document"]) for s in trace["Segments"])
        if sum(d.get("origin") == "AWS::Lambda::Function" for d in found) == 8:
            break
        time.sleep(0.2)
    functions = [d for d in found if d.get("origin") == "AWS::Lambda::Function"]
    assert len(functions) == 8
    with_init = [
        f for f in functions if any(s["name"] == "Initialization" for s in f["subsegments"])
    ]
    assert len(with_init) == 4


def test_state_machine_reserved_10_with_40_items_all_succeed_on_at_most_10_envs(
    live: Live,
) -> None:
    alias = live.deploy(init=0.3, work=0.3, reserved=10, pc=None)
    sfn = live.client("stepfunctions")
    execution, results = live.execute(live.state_machine(alias), [{"id": i} for i in range(1, 41)])
    assert [r["id"] for r in results] == list(range(1, 41))
    assert not [r for r in results if "error" in r], "every throttled item succeeded on a retry"
    assert len({r["env"] for r in results}) <= 10
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    throttles = [
        e
        for e in history
        if e["type"] == "TaskFailed"
        and e["taskFailedEventDetails"]["error"] == "Lambda.TooManyRequestsException"
    ]
    assert throttles, "40 at once on reserved 10 must have been throttled and retried"
    layer = live.cloud.control.execution_layer  # type: ignore[union-attr]
    name = alias.split(":")[6]
    stats = layer.stats(name)  # type: ignore[attr-defined]
    assert stats.peak_environments <= 10 and stats.peak_inflight <= 10


def test_state_machine_on_pc_50_is_served_warm_and_a_bad_item_fails_alone(live: Live) -> None:
    alias = live.deploy(init=0.3, work=0.2, reserved=None, pc=50)
    machine = live.state_machine(alias)
    items: list[dict[str, Any]] = [{"id": i} for i in range(1, 41)]
    items[6]["durationSeconds"] = "soon"  # a handler error for item 7 only
    _, first = live.execute(machine, items)
    failed = [r for r in first if "error" in r]
    assert [r["id"] for r in failed] == [7]
    assert failed[0]["error"]["Error"] == "InvalidItemError"
    assert "durationSeconds='soon' is not a number" in failed[0]["error"]["Cause"]
    served = [r for r in first if "error" not in r]
    assert len(served) == 39
    assert {r["initType"] for r in served} == {"provisioned-concurrency"}, "no cold start at all"
    # A second wave: the same environments again, none of them new.
    _, second = live.execute(machine, [{"id": i} for i in range(1, 41)])
    assert all(r["first"] is False or r["env"] not in {x["env"] for x in served} for r in second)
    assert {r["initType"] for r in second} == {"provisioned-concurrency"}
    name = alias.split(":")[6]
    stats = live.cloud.control.execution_layer.stats(name)  # type: ignore[union-attr]
    assert stats.cold_starts == 0 and stats.spillover_invocations == 0


def test_distributed_map_100_items_on_pc_50_make_50_spillover_cold_starts(live: Live) -> None:
    """100 at once through the deployed state machine (Distributed Map): PC 50 + 50 cold.

    moto starts the 100 child executions over about a second, so the work (3 s) is long enough
    for every item to be in flight before the first one ends and frees its environment.
    """
    alias = live.deploy(init=0.3, work=3.0, reserved=200, pc=50)
    machine = live.state_machine(alias, load_mode="DISTRIBUTED")
    _, results = live.execute(machine, [{"id": i} for i in range(1, 101)])
    assert [r["id"] for r in results] == list(range(1, 101))
    assert not [r for r in results if "error" in r]
    by_type = [r["initType"] for r in results]
    assert by_type.count("provisioned-concurrency") == 50
    assert by_type.count("on-demand") == 50, "the 50 above the PC level are real cold starts"
    assert all(r["first"] for r in results), "100 environments, each serving its first call"
    name = alias.split(":")[6]
    stats = live.cloud.control.execution_layer.stats(name)  # type: ignore[union-attr]
    assert stats.cold_starts == 50 and stats.spillover_invocations == 50
    assert stats.peak_inflight == 100
