"""The execution input: every bad file is one line naming the problem, before any AWS call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pclab.cli import main
from pclab.cloud import input as run_input
from pclab.cloud.errors import RunnerError

ROOT = Path(__file__).resolve().parents[2]


def test_sample_input_loads_150_items() -> None:
    loaded = run_input.load(ROOT / "sample-test-input.json")
    assert [item["id"] for item in loaded.items] == list(range(1, 151))


def test_generated_items_look_like_the_sample() -> None:
    generated = run_input.generate(3)
    assert generated.document == {"items": [{"id": 1}, {"id": 2}, {"id": 3}]}
    assert json.loads(generated.text) == generated.document


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", 'no top-level "items" list'),
        ('{"items": {}}', '"items" is not a list'),
        ('{"items": []}', "has no items"),
        ('{"items": [{"name": "x"}]}', 'item 1 ({"name": "x"}) has no "id"'),
        ('{"items": [{"id": [1]}]}', "item 1 has id [1]"),
        ('{"items": [{"id": 1}, {"id": 2}, {"id": 1}]}', "id 1 appears twice"),
    ],
)
def test_bad_input_file_is_one_clear_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(content)
    with pytest.raises(RunnerError) as caught:
        run_input.load(path)
    message = str(caught.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(RunnerError, match=r"does not exist: .*--items N"):
        run_input.load(tmp_path / "nope.json")


def test_the_success_bound_is_where_one_execution_stops_fitting() -> None:
    """output_bytes bounds all-successful results: max_items of them fit, a few more do not (a
    capped Map that cannot be split runs a burst as one execution up to there)."""
    most = run_input.max_items(4)
    assert 1000 < most < 1400
    worst = [{"id": 1000 + n} for n in range(most)]
    assert run_input.output_bytes(worst) <= run_input.PAYLOAD_LIMIT_BYTES
    too_many = [{"id": 1000 + n} for n in range(most + 10)]
    assert run_input.output_bytes(too_many) > run_input.PAYLOAD_LIMIT_BYTES
    run_input.generate(2000)  # more items than one execution holds run as several


def test_result_size_bounds_a_real_entry() -> None:
    """The bound covers an entry with the longest values the ResultSelector yields."""
    entry = {
        "id": 150,
        "req": "5b7634ff-5516-495c-a3b6-fca965160cf7",
        "env": "8e039c3b9a2b",
        "first": True,
        "initType": "provisioned-concurrency",
        "initMs": 5360.8,
        "start": 1795705659.263,
        "end": 1795705660.266,
        "ver": "12",
    }
    assert len(json.dumps(entry, separators=(",", ":"))) + 1 <= run_input.result_bytes(150)


def test_cli_refuses_bad_input_before_any_aws_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # an endpoint nobody answers on: reaching it would be a different error
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:9")
    bad = tmp_path / "bad.json"
    bad.write_text('{"items": []}')
    status = main(["run", "--stack", "pclab", "--input", str(bad), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1
    assert err[0].startswith("pclab: error: ") and "has no items" in err[0]
    assert not (tmp_path / "o").exists()


def test_demo_runs_the_samples_inline_map_unless_the_user_says_otherwise() -> None:
    from pclab.cloud.demo import parameter_overrides

    assert parameter_overrides(["ProvisionedConcurrency=5"]) == (
        "ProvisionedConcurrency=5",
        "LoadMode=INLINE",
    )
    assert parameter_overrides(["MapMaxConcurrency=4", "LoadMode=DISTRIBUTED"]) == (
        "MapMaxConcurrency=4",
        "LoadMode=DISTRIBUTED",
    )
