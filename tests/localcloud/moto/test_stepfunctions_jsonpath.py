"""Guards pclab/localcloud/moto/stepfunctions_jsonpath.py: each JSONPath is parsed once."""

from __future__ import annotations

import importlib
import inspect
import json
import time

from localcloud.cloud_helpers import Cloud
from pclab.localcloud import moto as moto_ext
from pclab.localcloud.moto.stepfunctions_jsonpath import CACHES, JSON_PATH, RESULT_PATH

# Not moto's own functions (jsonpath_ng's parsers, looked up as module globals by moto), so the
# shared shape check (guard.py) does not apply: the tests below check them.
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (JSON_PATH, "parse"): ["path"],  # jsonpath_ng.ext's
    (RESULT_PATH, "parse"): ["string"],
}

ROLE = "arn:aws:iam::123456789012:role/paths"
DEFINITION = {
    "StartAt": "Shape",
    "States": {
        "Shape": {
            "Type": "Pass",
            "Parameters": {"first.$": "$.items[0]", "name.$": "$.who.name"},
            "ResultPath": "$.shaped",
            "End": True,
        }
    },
}


def test_what_the_patch_replaces_is_still_jsonpath_ngs_parse(cloud: Cloud) -> None:
    for (module_name, name), expected in PATCHED_SIGNATURES.items():
        original = moto_ext.ORIGINALS[(module_name, name)]
        assert original.__module__.startswith("jsonpath_ng"), original
        assert list(inspect.signature(original).parameters)[: len(expected)] == expected
        assert getattr(importlib.import_module(module_name), name) is not original


def test_paths_evaluate_as_before_and_are_parsed_once(cloud: Cloud) -> None:
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"paths-{time.time_ns()}", definition=json.dumps(DEFINITION), roleArn=ROLE
    )["stateMachineArn"]
    outputs, parsed = [], []
    for run in range(3):
        arn = sfn.start_execution(
            stateMachineArn=machine,
            name=f"run-{run}",
            input=json.dumps({"items": [7, 8], "who": {"name": "x"}}),
        )["executionArn"]
        deadline = time.time() + 10
        while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.time() < deadline
            time.sleep(0.02)
        outputs.append(json.loads(described["output"]))
        parsed.append({m: c.cache_info().misses for m, c in CACHES.items()})
    assert outputs[0] == {
        "items": [7, 8],
        "who": {"name": "x"},
        "shaped": {"first": 7, "name": "x"},
    }
    assert outputs[0] == outputs[1] == outputs[2]
    # moto still calls the cached parse: the first run's paths are parsed, the later runs' are not
    assert parsed[1] == parsed[2]
    assert CACHES[JSON_PATH].cache_info().hits >= 4
    assert CACHES[RESULT_PATH].cache_info().hits >= 2
