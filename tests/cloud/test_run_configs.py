"""What the runner tells the analysis about each run's Map: the concurrency it asked for."""

from __future__ import annotations

import pytest

from pclab.analysis.pipeline import asked_concurrency
from pclab.cloud.executions import Execution
from pclab.cloud.input import generate
from pclab.cloud.run import run_configs
from pclab.cloud.stack import FunctionFacts, Stack, Target

ARN = "arn:aws:states:us-east-1:123456789012"


def stack(parameters: dict[str, str]) -> Stack:
    targets = (
        Target("reserved", f"{ARN}:stateMachine:Base-1", "base", f"{ARN}:function:base:live"),
        Target("provisioned", f"{ARN}:stateMachine:Prov-1", "prov", f"{ARN}:function:prov:live"),
    )
    return Stack("pclab", "CREATE_COMPLETE", {}, parameters, targets)


@pytest.mark.parametrize(
    ("parameters", "map_run", "asked"),
    [
        ({"LoadMode": "DISTRIBUTED", "MapMaxConcurrency": "0"}, None, 150),  # run seen or not
        ({"LoadMode": "DISTRIBUTED", "MapMaxConcurrency": "0"}, f"{ARN}:mapRun:x", 150),
        ({"LoadMode": "DISTRIBUTED", "MapMaxConcurrency": "100"}, None, 100),
        ({"LoadMode": "INLINE", "MapMaxConcurrency": "0"}, None, 40),
        ({"LoadMode": "INLINE", "MapMaxConcurrency": "25"}, None, 25),
        ({"MapMaxConcurrency": "0"}, None, 40),  # a template without LoadMode: the inline Map
        ({"MapMaxConcurrency": "0"}, f"{ARN}:mapRun:x", 150),  # ... unless a Map Run was seen
    ],
)
def test_asked_follows_the_load_mode_and_the_item_count(
    parameters: dict[str, str], map_run: str | None, asked: int
) -> None:
    deployed = stack(parameters)
    runs = [
        Execution(target, "e", f"{ARN}:execution:x:e", 150, 0.0, map_run_arn=map_run)
        for target in deployed.targets
    ]
    facts = {target.label: FunctionFacts(memory_mb=128) for target in deployed.targets}
    configs = run_configs(deployed, facts, generate(150), runs)
    assert [asked_concurrency(config, 150) for config in configs] == [asked, asked]
