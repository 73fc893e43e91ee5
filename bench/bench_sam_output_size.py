"""How big the state machine's execution output gets, against Step Functions' 256 KiB limit.

Each Map iteration keeps only the fields the definition's ResultSelector picks; this builds those
results with the longest values a real run produces (36-character request ids, the 12-character
environment id, "provisioned-concurrency", 4-digit item ids, full epoch times) and prints the
size of the compact JSON that Step Functions stores, for several item counts, plus the size of
a failed item's entry with a typical handler error.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

LIMIT = 256 * 1024
ROOT = Path(__file__).resolve().parents[1]


def result_selector_keys() -> list[str]:
    definition = json.loads(
        (ROOT / "statemachine" / "concurrency_test_state_machine.asl.json").read_text()
    )
    task = definition["States"]["InvokeForEachItem"]["ItemProcessor"]["States"]["InvokeFunction"]
    return [key.removesuffix(".$") for key in task["ResultSelector"]]


def success(item_id: int) -> dict[str, object]:
    values: dict[str, object] = {
        "id": item_id,
        "req": str(uuid.uuid4()),
        "env": uuid.uuid4().hex[:12],
        "first": False,
        "initType": "provisioned-concurrency",
        "initMs": 5012.3,
        "start": 1764170000.123,
        "end": 1764170003.124,
        "ver": "12",
    }
    keys = result_selector_keys()
    assert sorted(keys) == sorted(values), "the definition's ResultSelector changed: update this"
    return values


def failure(item_id: int) -> dict[str, object]:
    cause = {
        "errorMessage": f"item {item_id}: durationSeconds='slow' is not a number: give a number "
        "of seconds >= 0, or leave it out to use FUNCTION_DURATION",
        "errorType": "InvalidItemError",
        "requestId": str(uuid.uuid4()),
        "stackTrace": [
            '  File "/var/task/concurrencytest.py", line 137, in lambda_handler\n'
            "    work_seconds = _work_seconds(item)\n",
            '  File "/var/task/concurrencytest.py", line 113, in _work_seconds\n'
            "    raise InvalidItemError(\n",
        ],
    }
    return {"id": item_id, "error": {"Error": "InvalidItemError", "Cause": json.dumps(cause)}}


def size(results: list[dict[str, object]]) -> int:
    return len(json.dumps({"results": results}, separators=(",", ":")).encode())


def main() -> None:
    print(f"{'items':>6} {'all succeed':>14} {'% of 256 KiB':>13} {'all fail':>12} {'%':>6}")
    for count in (150, 500, 1000, 1200):
        ok = size([success(1000 + n) for n in range(count)])
        bad = size([failure(1000 + n) for n in range(count)])
        ok_share, bad_share = 100 * ok / LIMIT, 100 * bad / LIMIT
        print(f"{count:>6} {ok:>12} B {ok_share:>12.1f}% {bad:>10} B {bad_share:>5.1f}%")
    per_ok = size([success(1000)]) - size([])
    per_bad = size([failure(1000)]) - size([])
    print(f"bytes per item: success {per_ok}, failure {per_bad}")
    fit_ok, fit_bad = LIMIT // (per_ok + 1), LIMIT // (per_bad + 1)
    print(f"items that fit: {fit_ok} all succeeding, {fit_bad} all failing")


if __name__ == "__main__":
    main()
