"""Load held (issue 13 item 3): 1,000 items at once through the Distributed Map, nothing lost.

Everything real, as a user runs it: `pclab local-cloud start` (its account limit raised so that
ReservedConcurrency=1000 and ProvisionedConcurrency=500 fit beside each other: Lambda keeps 100
unreserved), ./sam-package.sh and ./sam-deploy.sh (LoadMode=DISTRIBUTED, SnapStartArm=off, delays
scaled down), then `pclab run --items N` twice on the same stack:

  1. N=1000: every item completes on both state machines (reserved 1000; PC 500 + 500 spillover),
     and every source sees every call (report.json coverage: execution output, X-Ray, logs all at
     seen == total: no event, datagram or log line lost; the parent's execution history holds no
     per-item events under a Distributed Map, shown n/a) and CloudWatch counts every invocation;
  2. N=1500: the reserved function admits 1000 at once; the extra calls are throttled, retried by
     the state machine's Retry, counted (CloudWatch's Throttles; report.json's per-item throttles
     come from execution histories, which a Distributed Map's express children do not keep), and
     none is lost (invocations == 1500, one record per item). 1500 items' results (~296 KiB, more
     with failures: an item out of retries records its error and cause, ~0.5 KiB more, and 9 of
     them once made 1250 items' single output fail with States.DataLimitExceeded) do not fit one
     execution's 256 KiB: pclab run starts 4 executions of 375 items per state machine at once
     (each fits even if all its items fail) and reports them as one run.

Work per call: long enough for 1000 calls to overlap. Measured here (2 cores, load 5-8), the Map
starts its children at ~25-30/s at this size (1000 handler starts spread over 33-43 s; 1250
over 65-86 s at load 8-12), so 45 s.
A throttled extra call then waits ~5 s for a free slot, within the state machine's 6 jittered
retries (1, 2, 4, 8, 16, 16 s at most); one that runs out of them fails for good as
Lambda.TooManyRequestsException: counted ("throttled out"), not lost. Peak memory of the local
cloud process and all its children (forkserver, execution environments, spares) is sampled from
/proc/<pid>/smaps_rollup (PSS: forked environments share pages, PSS counts them once; RSS summed
overcounts) while the runs go; the machine's memory in use is checked every second and above
--mem-limit-gb the bench kills the local cloud's process tree and says so.

Usage: .venv/bin/python bench/bench_load.py [--items 1000] [--over 1500] [--work 45] [--init 1]
       [--reserved 1000] [--pc 500] [--mem-limit-gb 18]
Exit status: 0 if nothing was lost, 1 if something was, 2 if aborted (memory, a step failed).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "pclab-artifacts"
STACK = "pclab-load"
SOURCES = ("execution-output", "execution-history", "xray", "logs")


# --------------------------------------------------------------------------- memory of the tree
def process_tree(root: int) -> dict[int, int]:
    """``root`` and every descendant, each with its depth below ``root``.

    Depth 1 is the forkserver (and the X-Ray or other helpers), depth 2 the execution
    environments it forked (spares and templates too): forks of it, so their cmdline is its own.
    """
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry.name}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])  # the name may hold spaces
            children.setdefault(ppid, []).append(int(entry.name))
    tree: dict[int, int] = {}
    todo = [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        tree[pid] = depth
        todo.extend((child, depth + 1) for child in children.get(pid, []))
    return tree


def rss_pss_kb(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in kB from smaps_rollup; None for a process gone meanwhile."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("Rss", "Pss"):
            values[key] = int(rest.split()[0])
    return values.get("Rss", 0), values.get("Pss", 0)


def memory_used_kb() -> int:
    """The machine's memory in use (MemTotal - MemAvailable): cheap enough to read every second."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        info[key] = int(rest.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


@dataclass
class Peak:
    """The largest tree sample of one phase (PSS: forked environments share pages)."""

    pss_kb: int = 0
    rss_kb: int = 0
    processes: int = 0
    env_pss_kb: int = 0  # depth 2: the environments (spares, templates) under the forkserver
    environments: int = 0
    machine_kb: int = 0  # the machine's memory in use above the bench's start, at its highest


@dataclass
class MemorySampler:
    """Watches the local cloud's process tree in a thread; kills it above the limit.

    The limit is checked every second on the machine's memory in use above what it was at the
    start (/proc/meminfo: one read); the tree's PSS (one smaps_rollup per process, ~3 ms each)
    is sampled as often as it costs at most a fifth of one core.
    """

    root: int
    limit_kb: int
    peaks: dict[str, Peak] = field(default_factory=dict)
    phase: str = "deploy"
    aborted: str | None = None
    sample_seconds: float = 0.0
    baseline_kb: int = field(default_factory=memory_used_kb)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        next_tree = 0.0
        while not self._stop.is_set():
            self.check_machine()
            if time.monotonic() >= next_tree:
                started = time.monotonic()
                self.sample_tree()
                took = time.monotonic() - started
                self.sample_seconds = max(self.sample_seconds, took)
                next_tree = time.monotonic() + 4 * took
            if self._stop.wait(1.0):
                return

    def _peak(self) -> Peak:
        return self.peaks.setdefault(self.phase, Peak())

    def check_machine(self) -> None:
        above = memory_used_kb() - self.baseline_kb
        peak = self._peak()
        peak.machine_kb = max(peak.machine_kb, above)
        if above > self.limit_kb and self.aborted is None:
            self.aborted = (
                f"the machine's memory in use rose {above / 2**20:.1f} GB, over the "
                f"{self.limit_kb / 2**20:.0f} GB limit (--mem-limit-gb), during {self.phase}: "
                "the local cloud and its environments are killed"
            )
            kill_tree(self.root)

    def sample_tree(self) -> None:
        tree = process_tree(self.root)
        total_rss = total_pss = env_pss = envs = 0
        for pid, depth in tree.items():
            values = rss_pss_kb(pid)
            if values is None:
                continue
            total_rss += values[0]
            total_pss += values[1]
            if depth >= 2:
                env_pss += values[1]
                envs += 1
        peak = self._peak()
        if total_pss > peak.pss_kb:
            self.peaks[self.phase] = Peak(
                total_pss, total_rss, len(tree), env_pss, envs, peak.machine_kb
            )


def kill_tree(root: int) -> None:
    """SIGKILL the cloud and every descendant, each by its pid (they run in their own sessions).

    Nothing when ``root`` is no longer the local cloud (stopped, its pid maybe reused)."""
    try:
        if b"local-cloud" not in Path(f"/proc/{root}/cmdline").read_bytes():
            return
    except OSError:
        return
    for pid in reversed(list(process_tree(root))):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- the steps
@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    vars: dict[str, str] = field(default_factory=dict)
    sampler: MemorySampler | None = None

    def run(self, *command: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """A step by subprocess; stops early (the local cloud killed) when the sampler aborts."""
        with subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.vars,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc:
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                if (self.sampler and self.sampler.aborted) or time.monotonic() > deadline:
                    proc.kill()
                    break
                time.sleep(0.5)
            out, err = proc.communicate()
            return subprocess.CompletedProcess(command, proc.returncode, out, err)

    def step(self, what: str, *command: str) -> str:
        done = self.run(*command)
        if self.sampler and self.sampler.aborted:
            raise Abort(f"aborted: {self.sampler.aborted}")
        if done.returncode != 0:
            raise Abort(
                f"{what} failed (exit {done.returncode}):\n{done.stdout[-2500:]}"
                f"\n{done.stderr[-2500:]}"
            )
        return done.stdout


class Abort(Exception):
    """A step failed or the memory limit was hit: the local cloud is stopped, exit 2."""


def start_cloud(bench: Bench, account: int) -> int:
    from pclab.localcloud.server import free_port

    port = free_port()
    bench.vars = {
        **os.environ,
        "PCLAB_STATE_DIR": str(bench.tmp / "state"),
        "AWS_ENDPOINT_URL": f"http://localhost:{port}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_POLL_DELAY": "0.5",
        "PCLAB_BUILD_DIR": str(bench.tmp / "build"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # idle reserved environments go once a run is over: fewer processes alive at once
        "PCLAB_ENV_IDLE_TIMEOUT": str(bench.args.idle_timeout),
    }
    bench.step(
        "pclab local-cloud start",
        *(sys.executable, "-m", "pclab.cli", "local-cloud", "start", "--detach"),
        *("--port", str(port), "--account-concurrency", str(account)),
    )
    pid_file = json.loads((bench.tmp / "state" / "local-cloud.pid").read_text())
    return int(pid_file["pid"])


def deploy(bench: Bench) -> None:
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=bench.vars["AWS_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=BUCKET)
    packaged = bench.tmp / "packaged.yaml"
    bench.step("sam-package.sh", "./sam-package.sh", "template.yaml", str(packaged), BUCKET)
    a = bench.args
    bench.step(
        "sam-deploy.sh",
        *("./sam-deploy.sh", STACK, str(packaged), "--parameter-overrides"),
        f"ReservedConcurrency={a.reserved}",
        f"ProvisionedConcurrency={a.pc}",
        f"ColdStartDelaySeconds={a.init:g}",
        f"FunctionDurationSeconds={a.work:g}",
        "LoadMode=DISTRIBUTED",
        "MapMaxConcurrency=0",
        "SnapStartArm=off",
    )


@dataclass
class Phase:
    items: int
    wall_s: float
    load_before: float
    load_after: float
    exit_code: int
    report: dict[str, Any]
    tail: str


def run_phase(bench: Bench, items: int) -> Phase:
    out = bench.tmp / f"report-{items}"
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    done = bench.run(
        *(sys.executable, "-m", "pclab.cli", "run", "--stack", STACK, "--items", str(items)),
        *("--out", str(out), "--no-charts", "--source-wait", str(bench.args.source_wait)),
    )
    wall = time.monotonic() - started
    if bench.sampler and bench.sampler.aborted:
        raise Abort(f"aborted: {bench.sampler.aborted}")
    report_path = out / "report.json"
    if not report_path.exists():
        raise Abort(
            f"pclab run --items {items} wrote no report (exit {done.returncode}):\n"
            f"{done.stdout[-2500:]}\n{done.stderr[-2500:]}"
        )
    report = json.loads(report_path.read_text())
    tail = (done.stdout + done.stderr)[-2500:]
    return Phase(items, wall, load_before, os.getloadavg()[0], done.returncode, report, tail)


# --------------------------------------------------------------------------- what is printed
def not_applicable(coverage: dict[str, Any]) -> bool:
    """The execution history of a Distributed Map run: its items run in express child executions,
    which keep no history on AWS either (GetExecutionHistory refuses them), so nothing to lose."""
    return (
        coverage["source"] == "execution-history"
        and not coverage["provided"]
        and "Distributed Map children" in (coverage["note"] or "")
    )


THROTTLED = "Lambda.TooManyRequestsException"


def throttled_out(calls: list[dict[str, Any]]) -> int:
    """Calls that failed for good after the state machine's last retry of a throttle: counted,
    not lost (they never ran, so no X-Ray segment, log line or CloudWatch invocation)."""
    return sum(1 for c in calls if c.get("error") == THROTTLED)


def run_problems(run: dict[str, Any], items: int, calls: list[dict[str, Any]]) -> list[str]:
    """What was lost or failed in one run (empty: nothing)."""
    problems = []
    if run["invocations"] != items:
        problems.append(f"{run['invocations']} invocations for {items} items")
    out = throttled_out(calls)
    if run["errors"] != out:
        problems.append(f"{run['errors'] - out} errors other than throttles")
    ids = {c["item_id"] for c in calls if c.get("item_id") is not None}
    if len(ids) != items:
        problems.append(f"{len(ids)} distinct item ids of {items}")
    for cov in run["coverage"]:
        if not_applicable(cov):
            continue
        ran = items if cov["source"] == "execution-output" else items - out
        if not cov["provided"] or cov["seen"] != ran or cov["total"] != items:
            problems.append(f"{cov['source']} saw {cov['seen']}/{cov['total']} ({cov['note']})")
    metrics = run.get("metrics") or {}
    if not metrics.get("provided"):
        problems.append(f"no CloudWatch metrics ({metrics.get('note')})")
    elif metrics["invocations"] != items + run["retries"] - run["throttles"]:
        # CloudWatch's Invocations: every attempt that ran, throttled ones excluded: each item
        # once, plus retries that were not of a throttle (retries - (throttles - out)), minus the
        # items throttled out of retries (out), which never ran
        problems.append(f"CloudWatch counts {metrics['invocations']} invocations")
    return problems


def spread(values: list[float]) -> float:
    return max(values) - min(values) if values else float("nan")


def print_run(run: dict[str, Any], calls: list[dict[str, Any]], items: int) -> None:
    label = "reserved" if run["name"].startswith("Base") else "provisioned"
    starts = [c["handler_start"] for c in calls if c.get("handler_start") is not None]
    coverage = "  ".join(
        f"{c['source']} " + ("n/a (express children)" if not_applicable(c) else
                             f"{c['seen']}/{c['total']}")
        for c in run["coverage"]
    )  # fmt: skip
    metrics = run.get("metrics") or {}
    print(
        f"  {label:<11} completed {run['invocations'] - run['errors']}/{items}  "
        f"invocations {run['invocations']}  errors {run['errors']} (throttled out "
        f"{throttled_out(calls)})  report.json throttles "
        f"{run['throttles']} retries {run['retries']}  CloudWatch: invocations "
        f"{metrics.get('invocations')} throttles {metrics.get('throttles')} peak "
        f"{metrics.get('peak_concurrent_executions')}\n"
        f"  {'':<11} peak concurrency {run['concurrency']['peak']} (asked "
        f"{run['concurrency']['asked']})  cold {run['cold_starts']}  PC-served "
        f"{run['served_by_pc']}  spillover {run['spillover']}  environments "
        f"{run['environments']}  handler starts spread over {spread(starts):.1f} s  makespan "
        f"{run['makespan_s'] or 0:.1f} s\n  {'':<11} coverage: {coverage}"
    )


def print_phase(phase: Phase, peak: Peak | None) -> list[str]:
    report, lost = phase.report, []
    print(
        f"\n== {phase.items} items: pclab run {phase.wall_s:.0f} s, exit {phase.exit_code}, "
        f"load average {phase.load_before:.1f} -> {phase.load_after:.1f}"
    )
    if "incomplete" in report:
        lost.append(f"{phase.items} items: report incomplete: {report['incomplete']['reason']}")
    for run in report["runs"]:
        label = "reserved" if run["name"].startswith("Base") else "provisioned"
        calls = [c for c in report["invocations"] if c["run"] == run["name"]]
        print_run(run, calls, phase.items)
        lost += [
            f"{phase.items} items, {label}: {p}" for p in run_problems(run, phase.items, calls)
        ]
    topics: dict[str, int] = {}
    for d in report.get("disagreements", []):
        topics[d["topic"]] = topics.get(d["topic"], 0) + 1
    if topics:
        print(f"  disagreements: {topics}")
    if peak is not None:
        per_env = peak.env_pss_kb / peak.environments / 1024 if peak.environments else 0.0
        print(
            f"  peak memory {peak.pss_kb / 1024:.0f} MB PSS (RSS summed {peak.rss_kb / 1024:.0f} "
            f"MB) over {peak.processes} processes: {peak.environments} environments/spares "
            f"{peak.env_pss_kb / 1024:.0f} MB PSS, {per_env:.1f} MB each; the machine's memory "
            f"in use rose by at most {peak.machine_kb / 1024:.0f} MB"
        )
    if phase.exit_code != 0:
        lost.append(f"{phase.items} items: pclab run exited {phase.exit_code}: {phase.tail[-300:]}")
    return lost


def next_minute() -> None:
    """Wait for the next whole minute: CloudWatch's per-minute counts of the next phase then
    hold none of this one's calls."""
    time.sleep(60 - time.time() % 60 + 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000, help="phase 1: items at once")
    parser.add_argument(
        "--over",
        type=int,
        default=1500,
        help="phase 2: more than reserved (several executions per state machine, one run)",
    )
    parser.add_argument("--reserved", type=int, default=1000, help="ReservedConcurrency")
    parser.add_argument("--pc", type=int, default=500, help="ProvisionedConcurrency")
    parser.add_argument("--init", type=float, default=1.0, help="ColdStartDelaySeconds")
    parser.add_argument("--work", type=float, default=45.0, help="FunctionDurationSeconds")
    parser.add_argument(
        "--account",
        type=int,
        default=0,
        help="account concurrency (default reserved + items, PC + 100 at least: nothing throttled "
        "in phase 1 on either function)",
    )
    parser.add_argument("--idle-timeout", type=float, default=10.0, help="PCLAB_ENV_IDLE_TIMEOUT")
    parser.add_argument("--source-wait", type=float, default=120.0)
    parser.add_argument("--mem-limit-gb", type=float, default=18.0, help="abort above (PSS)")
    args = parser.parse_args()
    account = args.account or args.reserved + max(args.items, args.pc + 100)
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; account concurrency "
        f"{account}, reserved {args.reserved}, PC {args.pc}, init {args.init:g} s, work "
        f"{args.work:g} s, open files limit {os.sysconf('SC_OPEN_MAX')}"
    )
    started = time.monotonic()
    lost: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        bench = Bench(args, Path(tmp))
        root = 0
        try:
            root = start_cloud(bench, account)
            bench.sampler = MemorySampler(root, int(args.mem_limit_gb * 2**20))
            bench.sampler.start()
            deploy(bench)
            for items in (args.items, args.over):
                bench.sampler.phase = f"{items} items"
                if items != args.items:
                    next_minute()
                phase = run_phase(bench, items)
                lost += print_phase(phase, bench.sampler.peaks.get(bench.sampler.phase))
        except Abort as abort:
            print(f"\n{abort}", file=sys.stderr)
            if root:
                kill_tree(root)
            return 2
        finally:
            if bench.sampler is not None:
                bench.sampler.stop()
                deploy_peak = bench.sampler.peaks.get("deploy")
                if deploy_peak:
                    print(
                        f"\nafter deploy (PC {args.pc} ready): {deploy_peak.pss_kb / 1024:.0f} "
                        f"MB PSS over {deploy_peak.processes} processes; slowest memory sample "
                        f"{bench.sampler.sample_seconds:.2f} s"
                    )
            if root:
                bench.run(sys.executable, "-m", "pclab.cli", "local-cloud", "stop", timeout=60)
                kill_tree(root)  # whatever the stop left behind
    print(
        f"\nwall time {time.monotonic() - started:.0f} s, load average at end "
        f"{os.getloadavg()[0]:.1f}"
    )
    if lost:
        print("LOST or FAILED:\n  " + "\n  ".join(lost))
        return 1
    print("nothing lost: every item completed once and every source saw every call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
