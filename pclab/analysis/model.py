"""The analysis data model: one :class:`Invocation` per Lambda call, one :class:`RunSummary` per
run.

Every source (execution output, execution history, X-Ray, CloudWatch Logs) is an adapter that turns
the documents AWS returns into :class:`Invocation` records, filling only what that source knows and
leaving the rest ``None``. :func:`pclab.analysis.join.join_invocations` then merges the records of
one call (by request id; by item id where a source lacks request ids), decides what the caller saw
(cold or warm, served by provisioned concurrency or not) and notes where sources disagree.

Nothing here imports boto3 or any other part of pclab: the model is plain data so it is fast to
test, to benchmark, and to build from files a user saved from the console.

Conventions (WHY: every source uses different units; the model uses one):
- times are epoch seconds (float), durations are milliseconds (float) when named ``*_ms`` and
  seconds otherwise;
- ``None`` means "no source said", never "false" or "zero".

Public API (the runner and ``pclab analyze`` call these; each adapter is pure: documents in,
records out, raising :class:`SourceFormatError` with a one-line reason on a document it cannot
read)::

    pclab.analysis.sources.execution_output.parse_execution_output(
        document: Mapping | str, *, state_machine: str | None = None, execution: str | None = None,
        function_name: str | None = None, qualifier: str | None = None) -> list[Invocation]
        # DescribeExecution "output" (JSON string or parsed) or the whole DescribeExecution reply
    pclab.analysis.sources.execution_history.parse_execution_history(
        document: Mapping | Sequence[Mapping], *, state_machine: str | None = None,
        execution: str | None = None) -> list[Invocation]
        # GetExecutionHistory reply {"events": [...]} (or a list of pages / a bare event list);
        # timestamps may be boto3 datetimes, ISO 8601 strings (AWS CLI v2) or epoch numbers
    pclab.analysis.sources.xray.parse_traces(
        document: Mapping | Sequence[Mapping]) -> list[Invocation]
        # BatchGetTraces reply {"Traces": [...]} (or a list of pages)
    pclab.analysis.sources.logs.parse_logs(
        document: Mapping | Sequence[Any] | str) -> list[Invocation]
        # FilterLogEvents/GetLogEvents reply, plain text lines, or JSON-format log records
    pclab.analysis.pipeline.analyze(
        batches: Sequence[SourceBatch], configs: Sequence[RunConfig] = (), *,
        default_memory_mb: int | None = None) -> Analysis
        # join + classify + statistics + cost; wrap each adapter's list in a SourceBatch and say
        # (provided=False, note=...) which sources are missing and why. A RunConfig applies to
        # the run of its name, else to the run whose function is its function_name (or name).
    pclab.analysis.offline.analyze_files(
        files: Mapping[Source, Sequence[Path]], *, provisioned_concurrency: Sequence[str] = (),
        memory_mb: int | None = None) -> Analysis      # `pclab analyze`; raises InputFileError
    pclab.report.write_report(
        analysis: Analysis, out_dir: Path, *, charts: bool = True) -> ReportFiles
        # report.json always; report.html + PNGs with charts=True (matplotlib imported lazily)
    pclab.report.table.render_table(analysis: Analysis, console: rich.console.Console) -> None
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

# The ``initializationType`` values Lambda sets in AWS_LAMBDA_INITIALIZATION_TYPE.
INIT_TYPE_ON_DEMAND = "on-demand"
INIT_TYPE_PROVISIONED = "provisioned-concurrency"
INIT_TYPE_SNAPSTART = "snap-start"

# Step Functions' name for a Lambda throttle (HTTP 429 TooManyRequestsException).
THROTTLE_ERROR = "Lambda.TooManyRequestsException"


class SourceFormatError(ValueError):
    """A document is not what its adapter expects; the message is one line naming the problem."""


class Source(StrEnum):
    """Where a record came from. The string values appear in report.json."""

    EXECUTION_OUTPUT = "execution-output"  # the handler's own view, via the state machine output
    EXECUTION_HISTORY = "execution-history"  # Step Functions: when each task ran, retries
    XRAY = "xray"  # BatchGetTraces: AWS::Lambda / AWS::Lambda::Function segments
    LOGS = "logs"  # CloudWatch Logs REPORT lines


@dataclass(slots=True)
class Invocation:
    """One Lambda call as one or more sources saw it.

    Adapters create one per call they see and fill what they know; the join merges records of the
    same call into one. The caller view (``scheduled_at``/``started_at``/``ended_at``) is what
    Step Functions (or the X-Ray ``AWS::Lambda`` segment) saw; the handler view
    (``handler_start``/``handler_end``) is what the function's code measured.
    """

    # --- identity -----------------------------------------------------------------------------
    request_id: str | None = None  # Lambda request id: the primary join key
    item_id: str | None = None  # the Map item's "id", as a string (join key when no request id)
    state_machine: str | None = None  # state machine name (the report's run label)
    execution: str | None = None  # execution ARN or name
    iteration: int | None = None  # Map iteration index
    function_name: str | None = None  # function name (not ARN)
    qualifier: str | None = None  # alias or version the caller named ("live"), None = unqualified
    function_version: str | None = None  # the version that ran ("3", "$LATEST")
    environment_id: str | None = None  # the handler's stable id for its execution environment
    log_stream: str | None = None  # CloudWatch log stream: one per execution environment
    trace_id: str | None = None  # X-Ray trace id ("1-5f8...-...")

    # --- caller view ----------------------------------------------------------------------------
    scheduled_at: float | None = None  # first TaskScheduled of the item (includes retry waits)
    started_at: float | None = None  # start of the attempt that reached the function
    ended_at: float | None = None  # TaskSucceeded / TaskFailed of that attempt

    # --- handler view ---------------------------------------------------------------------------
    handler_start: float | None = None
    handler_end: float | None = None
    duration_ms: float | None = None  # REPORT "Duration" (handler run time as Lambda measured)
    billed_duration_ms: float | None = None  # REPORT "Billed Duration"
    memory_mb: int | None = None  # REPORT "Memory Size"
    max_memory_used_mb: int | None = None  # REPORT "Max Memory Used"
    reported_at: float | None = None  # when the REPORT line was logged (about the call's end)

    # --- init -----------------------------------------------------------------------------------
    init_type: str | None = None  # "on-demand" | "provisioned-concurrency" | "unknown" | ...
    first_invocation: bool | None = None  # handler: first call in its environment
    init_duration_ms: float | None = None  # handler initMs, REPORT Init Duration, X-Ray Init...
    init_start: float | None = None  # X-Ray Initialization subsegment (or handler) times
    init_end: float | None = None
    xray_initialization: bool | None = None  # trace seen: True = Initialization subsegment there

    # --- outcome (decided by the join from the evidence above) ----------------------------------
    cold: bool | None = None  # the caller waited for an init (caller-visible cold start)
    served_by_pc: bool | None = None  # a provisioned-concurrency environment served it
    retries: int = 0  # attempts before this one (history: repeated TaskScheduled of the item)
    throttles: int = 0  # of those, Lambda.TooManyRequestsException
    error: str | None = None  # e.g. "Lambda.TooManyRequestsException", "States.TaskFailed"
    error_cause: str | None = None

    # --- provenance -----------------------------------------------------------------------------
    # the local cloud's platform model, when it shaped this call's times (X-Ray metadata;
    # analysis/modelled.py); None on AWS
    platform_model: str | None = None
    sources: set[Source] = field(default_factory=set)

    @property
    def restore_duration_ms(self) -> float | None:
        """SnapStart: the restore this call's environment made, for its first call (a ``snap-start``
        environment's REPORT ``Restore Duration`` is read as its init)."""
        return self.init_duration_ms if self.init_type == INIT_TYPE_SNAPSTART else None

    @property
    def caller_latency_s(self) -> float | None:
        """Seconds the caller waited for this call (attempt start to result), if a source saw it."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at

    @property
    def handler_latency_s(self) -> float | None:
        """Seconds the handler ran: its own timestamps, else Lambda's REPORT Duration."""
        if self.handler_start is not None and self.handler_end is not None:
            return self.handler_end - self.handler_start
        if self.duration_ms is not None:
            return self.duration_ms / 1000.0
        return None

    @property
    def overhead_s(self) -> float | None:
        """Caller latency not spent in the handler or in an init the caller waited for."""
        caller, handler = self.caller_latency_s, self.handler_latency_s
        if caller is None or handler is None:
            return None
        init = 0.0
        if self.cold:
            if self.init_start is not None and self.init_end is not None:
                init = self.init_end - self.init_start
            elif self.init_duration_ms is not None:
                init = self.init_duration_ms / 1000.0
            else:
                return None
        return caller - handler - init

    @property
    def busy_interval(self) -> tuple[float, float] | None:
        """When this call occupied an environment/concurrency slot: for overlap (peak concurrency).

        Prefers the caller view (it includes the init the caller waited for), then the handler
        view widened by a caller-visible init, then the REPORT line's time and duration.
        """
        if self.started_at is not None and self.ended_at is not None:
            return (self.started_at, self.ended_at)
        if self.handler_start is not None and self.handler_end is not None:
            start = self.handler_start
            if self.cold and self.init_start is not None:
                start = min(start, self.init_start)
            elif self.cold and self.init_duration_ms is not None:
                start -= self.init_duration_ms / 1000.0
            return (start, self.handler_end)
        if self.reported_at is not None and self.duration_ms is not None:
            # REPORT lines only: logged right after the call, which ran Duration (+ its init)
            start = self.reported_at - self.duration_ms / 1000.0
            if self.cold and self.init_duration_ms is not None:
                start -= self.init_duration_ms / 1000.0
            return (start, self.reported_at)
        return None

    @property
    def environment_key(self) -> str | None:
        """A key identifying the execution environment, from whichever source named it."""
        return self.environment_id or self.log_stream

    @property
    def run_key(self) -> str:
        """The run (report column) this call belongs to: state machine, else function, else
        execution."""
        return self.state_machine or self.function_name or self.execution or "unknown"


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """The records one source produced, plus what the caller of the adapter knows about it.

    ``provided=False`` with a ``note`` says why a source is absent ("traces not sampled",
    "log group not found"); the report shows the note and carries on with the other sources.
    """

    source: Source
    invocations: tuple[Invocation, ...] = ()
    provided: bool = True
    note: str | None = None
    origin: str | None = None  # file name or API call, for messages


@dataclass(frozen=True, slots=True)
class RunConfig:
    """What the runner (or the user of ``pclab analyze``) knows about one run's setup.

    Everything is optional: the analysis infers what it can (memory from REPORT lines, PC from
    init types) and says in the notes what it assumed.
    """

    name: str  # run label: state machine name (matches Invocation.run_key)
    function_name: str | None = None
    qualifier: str | None = None
    memory_mb: int | None = None
    provisioned_concurrency: int = 0  # PC configured on the qualifier the run calls
    items: int | None = None  # items in the execution input
    max_concurrency: int | None = None  # Map MaxConcurrency (0 = as many as possible)
    inline_map: bool = True  # inline Map caps concurrency at 40 (FACTS.md)
    # latest startAfterSeconds when the items arrive over time (None: all at once, a burst)
    arrival_span_s: int | None = None
    pc_enabled_seconds: float | None = None  # how long PC was enabled (cost; default: makespan)


@dataclass(frozen=True, slots=True)
class Disagreement:
    """Two sources said different things about the same call (shown in the report)."""

    request_id: str | None
    item_id: str | None
    run: str
    topic: str  # "cold", "init-duration", "item", ...
    message: str  # one sentence a user can read, e.g. "handler says warm, trace shows ..."


@dataclass(frozen=True, slots=True)
class SourceCoverage:
    """How much of a run one source saw."""

    source: Source
    provided: bool  # a document was given at all
    seen: int  # calls of the run this source saw
    total: int  # calls of the run
    note: str | None = None  # why it is missing or partial


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Percentiles of a set of latencies, in seconds. ``count == 0`` means no data."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None
    max: float | None
    mean: float | None


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Cost of one run at FACTS.md prices (us-east-1, x86), in US dollars."""

    requests_usd: float
    on_demand_gb_seconds: float  # billed duration of calls not served by PC (incl. spillover)
    on_demand_usd: float
    pc_served_gb_seconds: float  # billed duration of calls served by PC
    pc_served_usd: float
    pc_enabled_seconds: float  # seconds charged for the configured PC (5-minute minimum)
    pc_allocation_usd: float  # the configured PC for that time
    pc_hourly_usd: float  # what the configured PC costs per hour while it stays enabled
    total_usd: float
    billed_estimated: bool  # True when billed duration was derived, not read from REPORT lines
    # SnapStart (Python): the snapshot's caching over the run (3-hour minimum) and its restores
    snapstart_cache_usd: float = 0.0
    snapstart_restore_usd: float = 0.0
    snapstart_restores: int = 0  # environments resumed from the snapshot that a caller waited for


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One state machine's run, as the report shows it side by side."""

    name: str
    function_name: str | None
    qualifier: str | None
    memory_mb: int
    provisioned_concurrency: int
    invocations: int  # calls that reached the function or failed for good
    cold_starts: int  # caller-visible cold starts
    cold_unknown: int  # calls no source could classify
    served_by_pc: int
    spillover: int  # calls of a PC-configured run not served by PC (on-demand environments)
    throttles: int  # Lambda.TooManyRequestsException attempts
    retries: int  # retried attempts (any error)
    errors: int  # calls that failed for good
    environments: int  # distinct execution environments seen
    latency_caller: LatencyStats
    latency_caller_cold: LatencyStats
    latency_caller_warm: LatencyStats
    latency_handler: LatencyStats
    init_duration: LatencyStats  # init durations of caller-visible cold starts (not restores)
    peak_concurrency: int  # maximum number of overlapping calls
    asked_concurrency: int | None  # items, capped by Map concurrency; None: items arrive over time
    makespan_s: float | None  # first call start to last call end
    cost: CostBreakdown
    # caller latency minus handler time minus the init waited for: what Lambda and Step
    # Functions added around the code (cold ~ init + work + this)
    overhead: LatencyStats = field(
        default_factory=lambda: LatencyStats(0, None, None, None, None, None)
    )
    notes: tuple[str, ...] = ()
    # SnapStart: the restores the caller-visible cold starts of snap-start environments waited for
    restore_duration: LatencyStats = field(
        default_factory=lambda: LatencyStats(0, None, None, None, None, None)
    )


@dataclass(frozen=True, slots=True)
class Incomplete:
    """Why a report does not hold the whole run: the runner stopped before the end (the endpoint
    stopped answering, or the user pressed Ctrl-C) and reports what it had."""

    reason: str  # one line, e.g. "the endpoint http://localhost:4577 stopped answering ..."
    executions: tuple[str, ...] = ()  # executions that did not finish, or never started
    sources: tuple[str, ...] = ()  # sources not collected, e.g. "xray BaseConcurrencyTest..."


@dataclass(frozen=True, slots=True)
class MetricsView:
    """One run's function as CloudWatch's AWS/Lambda metrics counted it over the run's minutes.

    A fifth source, but not per call: sums (Maximum for the peak) over whole minutes, so it is
    compared with the run's totals (:mod:`pclab.analysis.metrics_check`), not joined. ``None``:
    not asked (no qualifier: no PC metrics) or no datapoint; ``provided=False``: not read.
    """

    function_name: str | None
    qualifier: str | None = None  # the alias/version of the PC metrics (Resource name:qualifier)
    run: str | None = None  # the run (state machine) it was read for, when the reader knew
    provided: bool = True
    invocations: int | None = None  # Invocations, Sum (throttled requests excluded)
    throttles: int | None = None  # Throttles, Sum
    spillover: int | None = None  # ProvisionedConcurrencySpilloverInvocations, Sum
    served_by_pc: int | None = None  # ProvisionedConcurrencyInvocations, Sum
    peak_concurrent_executions: int | None = None  # ConcurrentExecutions, Maximum of the minutes
    note: str | None = None  # why it is missing or partial
    origin: str | None = None  # file name or API call, for messages


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything the report renders."""

    runs: tuple[RunSummary, ...]
    invocations: tuple[Invocation, ...]
    disagreements: tuple[Disagreement, ...]
    coverage: dict[str, tuple[SourceCoverage, ...]]  # run name -> per source
    notes: tuple[str, ...] = ()
    incomplete: Incomplete | None = None  # set by the runner when it stopped before the end
    # run name -> CloudWatch's view of it; empty when no metrics were read (pclab analyze without
    # --metrics), a MetricsView(provided=False) when they were asked for and did not come
    metrics: dict[str, MetricsView] = field(default_factory=dict)

    def run_invocations(self, run: str) -> list[Invocation]:
        """The calls of one run, in start order."""
        return sorted(
            (inv for inv in self.invocations if inv.run_key == run),
            key=_start_key,
        )


def _start_key(inv: Invocation) -> float:
    interval = inv.busy_interval
    return interval[0] if interval else float("inf")


def item_key(value: object) -> str | None:
    """Normalise a Map item id to a string (JSON ids may be ints or strings)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def runs_of(invocations: Iterable[Invocation]) -> list[str]:
    """The run labels in first-seen order."""
    seen: dict[str, None] = {}
    for inv in invocations:
        seen.setdefault(inv.run_key, None)
    return list(seen)
