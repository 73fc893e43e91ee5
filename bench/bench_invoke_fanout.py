"""How fast 150 concurrent invocations get through the control plane to the execution layer.

A Distributed Map starts every child at once and each child's Lambda task calls
``LambdaControlPlane.invoke`` from its own thread; whatever the control plane does under its lock
(resolving the alias, building the FunctionSpec from moto's record) is done one call at a time.
This runs a real local cloud in this process (moto's backend, a function with the project's code
zip, a published version and the ``live`` alias with provisioned concurrency), releases N threads
at once into ``invoke``, and records when each call reaches the execution layer (a stand-in that
only sleeps ``--work`` seconds, so only the control plane's cost shows). ``--burn K`` keeps K busy
processes running meanwhile, as a loaded machine would.

Prints: the arrival spread (first to last call reaching the layer), the peak overlap in the layer,
and the mean control-plane time per call.

Usage: .venv/bin/python bench/bench_invoke_fanout.py [--calls 150] [--work 1] [--burn 0]
       [--rounds 3]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pclab.localcloud.invocation import (  # noqa: E402
    FunctionSpec,
    InvokeRequest,
    InvokeResult,
    ProvisionedStatus,
)
from pclab.localcloud.server import LocalCloud, free_port  # noqa: E402


class SleepingLayer:
    """Records when each call arrives, then sleeps as the handler's work would."""

    def __init__(self, work: float) -> None:
        self.work = work
        self.arrivals: list[float] = []
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.active += 1
            self.peak = max(self.peak, self.active)
        time.sleep(self.work)
        with self.lock:
            self.active -= 1
        return InvokeResult(200, b"{}", request.spec.version)

    def set_reserved_concurrency(self, function_name: str, reserved: int | None) -> None:
        pass

    def set_account_limit(self, limit: int) -> None:
        pass

    def put_provisioned_concurrency(self, spec: FunctionSpec, qualifier: str, count: int) -> None:
        pass

    def delete_provisioned_concurrency(self, function_name: str, qualifier: str) -> None:
        pass

    def provisioned_status(
        self, function_name: str, qualifier: str
    ) -> tuple[ProvisionedStatus, int, str | None]:
        return "READY", 1, None

    def delete_function(self, function_name: str) -> None:
        pass

    def shutdown(self) -> None:
        pass


def code_zip() -> bytes:
    """The project's function code, zipped as sam package would."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "functions").rglob("*.py")):
            archive.write(path, path.relative_to(ROOT / "functions"))
    return buffer.getvalue()


def deploy(url: str, calls: int) -> str:
    """A function, version 1, alias live with PC = calls; returns the alias ARN."""
    kwargs: dict[str, Any] = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    iam, lam = boto3.client("iam", **kwargs), boto3.client("lambda", **kwargs)
    name = f"bench-{uuid.uuid4().hex[:8]}"
    role = iam.create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="concurrencytest.lambda_handler",
        Code={"ZipFile": code_zip()},
        Environment={"Variables": {"COLD_START_DELAY": "0", "FUNCTION_DURATION": "1"}},
        TracingConfig={"Mode": "Active"},
    )
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=calls
    )
    return f"{created['FunctionArn']}:live"


def burn() -> None:
    while True:
        pass


def fan_out(local: LocalCloud, alias_arn: str, calls: int, work: float) -> dict[str, float]:
    control = local.control
    assert control is not None
    layer = SleepingLayer(work)
    control.attach_execution_layer(layer)
    gate = threading.Barrier(calls + 1)
    spent: list[float] = []

    def call() -> None:
        gate.wait()
        started = time.monotonic()
        # the control plane's own cost: invoke minus the layer's sleep
        control.invoke("us-east-1", alias_arn, None, b'{"item": {"id": 1}}')
        spent.append(time.monotonic() - started - work)

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    released = time.monotonic()
    gate.wait()
    for thread in threads:
        thread.join()
    control.attach_execution_layer(None)
    arrivals = sorted(layer.arrivals)
    return {
        "first": arrivals[0] - released,
        "spread": arrivals[-1] - arrivals[0],
        "peak": float(layer.peak),
        "mean_ms": statistics.mean(spent) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--work", type=float, default=1.0)
    parser.add_argument("--burn", type=int, default=0, help="busy processes meanwhile")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    local = LocalCloud(free_port(), with_execution_layer=False)
    local.start()
    burners = [multiprocessing.Process(target=burn, daemon=True) for _ in range(args.burn)]
    try:
        alias_arn = deploy(local.url, args.calls)
        for process in burners:
            process.start()
        print(f"{args.calls} concurrent invokes of the live alias, {args.burn} busy processes")
        for round_ in range(1, args.rounds + 1):
            got = fan_out(local, alias_arn, args.calls, args.work)
            print(
                f"round {round_}: spread {got['spread']:.3f} s  first {got['first']:.3f} s  "
                f"peak {got['peak']:.0f}/{args.calls}  control plane {got['mean_ms']:.2f} ms/call"
            )
    finally:
        for process in burners:
            process.terminate()
        local.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
