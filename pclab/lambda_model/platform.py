"""Lambda's own timings that a local machine cannot reproduce: the platform model.

What a cold start costs on Lambda besides the function's own code, how much CPU an environment
gets, and what the Invoke path adds. The local cloud waits for these for real (so a caller sees
them, as on Lambda) and reports them in ``Init Duration`` and X-Ray's ``Initialization``; the
planner can use the same numbers with a simulated clock. ``--platform-model none`` switches the
model off for raw local timings (:data:`RAW`).

The rules, each with its source:
- Runtime start: the managed runtime's own start before the handler module's first line runs.
  Public daily measurements of a ``return`` handler (zip, 128 MB, x86_64, ``Init Duration``
  median over ten days; FACTS.md "Measured against AWS references", from the lambda-perf daily
  cold start benchmark) put python3.10-3.13 at about 75-90 ms and python3.14 at about 100 ms.
  A second public measurement agrees: a bare python handler at 512 MB, p50 82.8 ms; at 1,024 MB,
  75.7 ms (dev.robot.wtf "E-1: Cold Start Benchmarks", 2026-03-14). arm64 is not measured
  separately in either: the x86_64 value is used.
- CPU for a memory size: "At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second
  of credits per second)", in proportion below and above (AWS Lambda developer guide,
  "Configure Lambda function memory"); at most 6 vCPUs (10,240 MB).
- CPU during init: the init phase is NOT throttled to that share. Three measurements agree: (1) a
  bare Python runtime start costs about 110 ms of CPU on this project's machine (an AMD EPYC core;
  ``python -m awslambdaric`` up to the handler import), yet Lambda reports about 80 ms of
  ``Init Duration`` for it at 128 MB, where 7 % of a vCPU would take over 1.5 s; (2) Bite-Sized
  Serverless, "Lambda Cold Starts and Bootstrap Code" and "When is the Lambda Init Phase Free":
  init code runs faster than handler code, on unthrottled vCPUs even at the lowest memory;
  (3) a 4.4 s CPU-bound Python init took 4.48 s (p50) at 512 MB and 4.38 s at 1,024 MB
  (dev.robot.wtf, above), where proportional CPU would double it. So a single-threaded init
  runs on one full vCPU at any memory size: :func:`init_cpu_share`.
- The Invoke path: what Lambda adds between accepting a synchronous Invoke and handing the event
  to a warm environment's runtime: "the code can start running within milliseconds, typically
  around ~1-2 ms" (imarck.dev, "Review Lambda latency", from the Lambda documentation); about
  2 ms here. A local call's own path takes about 0.3-0.5 ms (FACTS.md, awslambdaric), so the
  model's value is a floor the local cloud waits up to, not an addition.
- SnapStart restore: UNMEASURED for Python. AWS says restores bring start-up "to as low as
  sub-second" and that ``Restore Duration`` includes restoring the snapshot (memory and disk, some
  of it outside the microVM), loading the runtime and the after-restore hooks ("Monitoring for
  Lambda SnapStart"); no public measurement of a Python restore was found. The model's 200 ms
  (:data:`SNAPSTART_RESTORE_MS`) is a placeholder inside "sub-second", marked ``Modelled`` in
  ``RESTORE_START``; like the Invoke path it is a floor this machine's own restore (a fork of the
  snapshot process) is absorbed into, and the after-restore hooks run for real on top of it.

Pure: imports nothing of pclab and nothing outside the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- sources in the module docstring ----------------------------------------------------------
# Runtime start in ms (zip, 128 MB): lambda-perf daily medians as FACTS.md gives them (75-90 ms
# for python3.10-3.13: the middle of that range; about 100 ms for python3.14).
RUNTIME_START_MS: dict[str, float] = {
    "python3.10": 82.0,
    "python3.11": 82.0,
    "python3.12": 82.0,
    "python3.13": 82.0,
    "python3.14": 100.0,
}
DEFAULT_RUNTIME_START_MS = 82.0  # a Python runtime not in the table: the python3.10-3.13 value
ARCHITECTURES = ("x86_64", "arm64")  # arm64 not measured separately: same values
ONE_VCPU_MB = 1769.0  # "Configure Lambda function memory": 1,769 MB = one vCPU
MAX_VCPUS = 6.0  # at 10,240 MB
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10240
INIT_CPU_SHARE = 1.0  # a single-threaded init runs on one unthrottled vCPU (docstring, 3 sources)
INVOKE_PATH_MS = 2.0  # warm Invoke: "within milliseconds, typically around ~1-2 ms"
SNAPSTART_RESTORE_MS = 200.0  # unmeasured placeholder inside AWS's "sub-second" (docstring)

PLATFORM_MODEL_NAMES = ("aws", "none")


def cpu_share(memory_mb: int) -> float:
    """vCPU-seconds per second an environment of ``memory_mb`` gets while it runs a handler."""
    _check_memory(memory_mb)
    return min(MAX_VCPUS, memory_mb / ONE_VCPU_MB)


def init_cpu_share(memory_mb: int) -> float:
    """vCPU-seconds per second a single-threaded init gets: one vCPU whatever the memory."""
    _check_memory(memory_mb)
    return INIT_CPU_SHARE


def _check_memory(memory_mb: int) -> None:
    if not MIN_MEMORY_MB <= memory_mb <= MAX_MEMORY_MB:
        raise ValueError(
            f"memory {memory_mb} MB is outside Lambda's range: give {MIN_MEMORY_MB} to "
            f"{MAX_MEMORY_MB} MB"
        )


@dataclass(frozen=True)
class CpuSample:
    """A stretch of real execution as measured on this machine, in seconds.

    ``wall`` is what elapsed, ``cpu`` what the process ran, ``run_delay`` how long it was ready
    but waited for a CPU this machine's other work held (Linux schedstat). What is left,
    ``wall - cpu - run_delay``, is time the code spent blocked (sleeping, reading): that takes
    as long on Lambda.
    """

    wall: float
    cpu: float
    run_delay: float = 0.0

    @property
    def blocked(self) -> float:
        return max(0.0, self.wall - self.cpu - self.run_delay)


@dataclass(frozen=True)
class PlatformModel:
    """Lambda's timings; ``enabled=False`` (``RAW``) models nothing: raw local timings."""

    name: str
    enabled: bool

    def runtime_start_s(self, runtime: str, architecture: str = "x86_64") -> float:
        """The runtime's own start, before the handler module runs (0 when off)."""
        if not self.enabled:
            return 0.0
        if architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture {architecture!r} is not a Lambda architecture: use x86_64 or arm64"
            )
        return RUNTIME_START_MS.get(runtime, DEFAULT_RUNTIME_START_MS) / 1000.0

    def init_cpu_scale(self, memory_mb: int) -> float:
        """How many times longer a second of this machine's init CPU takes on Lambda."""
        if not self.enabled:
            return 1.0
        return 1.0 / init_cpu_share(memory_mb)

    def init_seconds(self, sample: CpuSample, memory_mb: int) -> float:
        """What a stretch of init code measured here takes on Lambda.

        Blocked time is kept; CPU time is scaled to the init's CPU share; time spent waiting for
        this machine's CPU is dropped (on Lambda every environment has its own). Off: the wall.
        """
        if not self.enabled:
            return sample.wall
        return sample.blocked + sample.cpu * self.init_cpu_scale(memory_mb)

    def restore_s(self) -> float:
        """SnapStart: the modelled snapshot restore before the after-restore hooks (0 when off)."""
        return SNAPSTART_RESTORE_MS / 1000.0 if self.enabled else 0.0

    def invoke_path_s(self) -> float:
        """The least a warm synchronous Invoke takes beyond the handler (0 when off)."""
        return INVOKE_PATH_MS / 1000.0 if self.enabled else 0.0


AWS = PlatformModel("aws", enabled=True)
RAW = PlatformModel("none", enabled=False)


def platform_model(name: str) -> PlatformModel:
    """``"aws"`` or ``"none"``; anything else is a one-line error naming the choices."""
    if name == "aws":
        return AWS
    if name == "none":
        return RAW
    raise ValueError(
        f"unknown platform model {name!r}: use 'aws' (Lambda's timings, the default) or 'none' "
        "(raw local timings)"
    )
