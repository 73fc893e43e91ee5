"""The platform model's arithmetic (pclab/lambda_model/platform.py)."""

from __future__ import annotations

import pytest

from pclab.lambda_model import platform as pm


def test_runtime_start_follows_the_published_medians() -> None:
    # FACTS.md: python3.10-3.13 about 75-90 ms, python3.14 about 100 ms (zip, 128 MB, x86_64).
    for runtime in ("python3.10", "python3.11", "python3.12", "python3.13"):
        assert 0.075 <= pm.AWS.runtime_start_s(runtime) <= 0.090
    assert pm.AWS.runtime_start_s("python3.14") == pytest.approx(0.100)
    assert pm.AWS.runtime_start_s("python3.99") == pytest.approx(pm.DEFAULT_RUNTIME_START_MS / 1e3)
    assert pm.AWS.runtime_start_s("python3.12", "arm64") == pm.AWS.runtime_start_s("python3.12")


def test_raw_models_nothing() -> None:
    assert pm.RAW.runtime_start_s("python3.11") == 0.0
    assert pm.RAW.invoke_path_s() == 0.0
    assert pm.RAW.init_cpu_scale(128) == 1.0
    sample = pm.CpuSample(wall=0.5, cpu=0.2, run_delay=0.25)
    assert pm.RAW.init_seconds(sample, 128) == 0.5  # the wall, contention included


def test_cpu_share_is_proportional_to_memory() -> None:
    assert pm.cpu_share(1769) == pytest.approx(1.0)
    assert pm.cpu_share(128) == pytest.approx(128 / 1769)  # about 7 %
    assert pm.cpu_share(3538) == pytest.approx(2.0)
    assert pm.cpu_share(10240) == pytest.approx(10240 / 1769)
    assert pm.cpu_share(10240) <= pm.MAX_VCPUS


def test_init_runs_on_one_vcpu_at_every_memory() -> None:
    for memory in (128, 512, 1024, 1769, 3008, 10240):
        assert pm.init_cpu_share(memory) == 1.0
        assert pm.AWS.init_cpu_scale(memory) == 1.0


@pytest.mark.parametrize("memory", [0, 127, 10241])
def test_memory_outside_lambdas_range_is_refused(memory: int) -> None:
    with pytest.raises(ValueError, match="outside Lambda's range"):
        pm.cpu_share(memory)
    with pytest.raises(ValueError, match="outside Lambda's range"):
        pm.init_cpu_share(memory)


def test_init_seconds_keeps_blocking_scales_cpu_and_drops_contention() -> None:
    sample = pm.CpuSample(wall=1.5, cpu=0.2, run_delay=0.3)
    assert sample.blocked == pytest.approx(1.0)
    # One vCPU during init: 1.0 s blocked + 0.2 s CPU; the 0.3 s this machine made it wait is gone.
    assert pm.AWS.init_seconds(sample, 128) == pytest.approx(1.2)


def test_init_seconds_scales_cpu_when_the_share_is_below_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The arithmetic for a throttled init (if AWS ever throttles it): CPU / share.
    monkeypatch.setattr(pm, "INIT_CPU_SHARE", 0.25)
    sample = pm.CpuSample(wall=0.5, cpu=0.1, run_delay=0.0)
    assert pm.AWS.init_seconds(sample, 128) == pytest.approx(0.4 + 0.1 * 4)


def test_blocked_never_negative() -> None:
    assert pm.CpuSample(wall=0.1, cpu=0.2, run_delay=0.05).blocked == 0.0


def test_invoke_path_is_a_few_ms() -> None:
    assert 0.0005 <= pm.AWS.invoke_path_s() <= 0.005


def test_model_by_name() -> None:
    assert pm.platform_model("aws") is pm.AWS
    assert pm.platform_model("none") is pm.RAW
    with pytest.raises(ValueError, match="use 'aws'"):
        pm.platform_model("lambda")
    with pytest.raises(ValueError, match="not a Lambda architecture"):
        pm.AWS.runtime_start_s("python3.12", "riscv")
