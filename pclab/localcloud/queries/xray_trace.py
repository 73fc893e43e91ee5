"""One X-Ray trace as X-Ray's query side sees it: segments, services, edges, annotations.

Input is the list of segment documents of one trace as PutTraceSegments received them (parsed JSON
or the JSON text): segments with ``id``, ``name``, ``origin``, ``start_time``, ``end_time``,
``parent_id``, ``error``/``fault``/``throttle``, ``http``, ``annotations``, nested
``subsegments``, and subsegments streamed as their own documents (``"type": "subsegment"``, as the
X-Ray SDK sends them). The filter evaluator, the TraceSummary builder and the service-graph builder
all read this one model, so a keyword means the same thing in all three.

Rules, from the X-Ray developer guide ("Getting data from AWS X-Ray", "Segment documents") and the
API reference (TraceSummary):

- the root segment is the one whose ``parent_id`` names nothing in the trace (none, or an upstream
  that was not traced); response time is the root segment's end minus start; duration is from
  the earliest segment start to the latest segment end;
- a segment's service (a node of the service map) is its ``name`` and its ``origin`` (the type);
- X-Ray *infers* a segment for a downstream call recorded as a subsegment with ``namespace``
  ``aws`` or ``remote`` when the called service sent no segment of its own (for example DynamoDB:
  the node is the table, type ``AWS::DynamoDB::Table``); an edge joins the service owning the
  (sub)segment a segment's ``parent_id`` names to that segment's service, and the trace's entry
  point is called by a ``client`` node;
- status flags: ``fault`` (or HTTP 5xx), ``error`` (or 4xx), ``throttle`` (or 429); a segment
  with ``in_progress`` or no ``end_time`` makes the trace partial.

Imports nothing but the standard library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

Document = Mapping[str, Any]


@dataclass(frozen=True)
class ServiceId:
    """A node of the service map: X-Ray's ServiceId (Name, Names, AccountId, Type)."""

    name: str
    type: str | None = None
    account_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        shaped: dict[str, Any] = {"Name": self.name, "Names": [self.name]}
        if self.account_id is not None:
            shaped["AccountId"] = self.account_id
        if self.type is not None:
            shaped["Type"] = self.type
        return shaped


CLIENT_TYPE = "client"


def _number(value: Any) -> float | None:
    if type(value) is float:  # the usual case, first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def http_status(doc: Document) -> int | None:
    http = doc.get("http")
    if http is None or not isinstance(http, Mapping):
        return None
    response = http.get("response")
    if response is None or not isinstance(response, Mapping):
        return None
    status = response.get("status")
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def http_request(doc: Document) -> Mapping[str, Any]:
    http = doc.get("http")
    request = http.get("request") if isinstance(http, Mapping) else None
    return request if isinstance(request, Mapping) else {}


class Segment:
    """A segment of the trace, sent (``inferred`` False) or inferred from a downstream call."""

    __slots__ = (
        "doc",
        "end",
        "error",
        "fault",
        "id",
        "in_progress",
        "inferred",
        "parent_id",
        "service",
        "start",
        "status",
        "throttle",
    )

    def __init__(self, doc: Document, service: ServiceId, *, inferred: bool = False) -> None:
        self.doc = doc
        self.id = str(doc.get("id", ""))
        parent = doc.get("parent_id")
        self.parent_id = str(parent) if parent else None
        self.service = service
        self.inferred = inferred
        self.start = _number(doc.get("start_time"))
        self.end = _number(doc.get("end_time"))
        self.in_progress = doc.get("in_progress") is True or self.end is None
        status = http_status(doc)
        self.status = status
        # X-Ray: throttle is a 429 (and is also an error); error a 4xx; fault a 5xx.
        self.throttle = doc.get("throttle") is True or status == 429
        self.error = (
            doc.get("error") is True
            or self.throttle
            or (status is not None and 400 <= status < 500)
        )
        self.fault = doc.get("fault") is True or (status is not None and 500 <= status < 600)

    @property
    def ok(self) -> bool:
        """Neither error, fault nor throttle (the 2XX of X-Ray's ``ok`` keyword)."""
        return not (self.error or self.fault or self.throttle)

    @property
    def response_time(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start


def _segment_service(doc: Document) -> ServiceId:
    aws = doc.get("aws")
    account = aws.get("account_id") if type(aws) is dict or isinstance(aws, Mapping) else None
    origin = doc.get("origin")
    return _service(
        str(doc.get("name", "")), str(origin) if origin else None, str(account) if account else None
    )


@lru_cache(maxsize=4096)  # a few services recur in every trace: build each ServiceId once
def _service(name: str, type_: str | None, account: str | None) -> ServiceId:
    return ServiceId(name=name, type=type_, account_id=account)


def _inferred_service(sub: Document) -> ServiceId:
    """The node X-Ray infers for a downstream call (``namespace`` aws or remote)."""
    name = str(sub.get("name", ""))
    if sub.get("namespace") == "remote":
        return ServiceId(name=name, type="remote")
    aws = sub.get("aws")
    table = aws.get("table_name") if isinstance(aws, Mapping) else None
    if table:  # the guide's example: a DynamoDB call becomes its table's node
        return ServiceId(name=str(table), type=f"AWS::{name}::Table")
    return ServiceId(name=name, type=f"AWS::{name}")


def _parse(documents: Iterable[Document | str | bytes]) -> list[Document]:
    parsed: list[Document] = []
    for doc in documents:
        if isinstance(doc, str | bytes):
            try:
                loaded = json.loads(doc)
            except ValueError:
                continue  # X-Ray drops documents it cannot parse
            if isinstance(loaded, Mapping):
                parsed.append(loaded)
        elif type(doc) is dict or isinstance(doc, Mapping):
            parsed.append(doc)
    return parsed


class _Index:
    """What one walk over a trace's subsegments finds."""

    __slots__ = ("annotated", "calls", "owner", "subsegments")

    def __init__(self) -> None:
        self.owner: dict[str, Segment] = {}
        self.subsegments: list[tuple[Document, Segment]] = []
        self.calls: list[Document] = []  # namespace aws/remote: downstream calls
        self.annotated: list[tuple[Document, Segment]] = []

    def visit(self, sub: Document, seg: Segment) -> None:
        self.subsegments.append((sub, seg))
        if sub.get("namespace") in ("aws", "remote"):
            self.calls.append(sub)
        if "annotations" in sub and isinstance(sub["annotations"], Mapping):
            self.annotated.append((sub, seg))

    def walk(self, doc: Document, seg: Segment) -> None:
        """Visit the subsegments nested in ``doc``, depth first."""
        stack = [doc]
        while stack:
            subs = stack.pop().get("subsegments")
            if not isinstance(subs, list):
                continue
            for sub in subs:
                if type(sub) is dict or isinstance(sub, Mapping):
                    self.owner[str(sub.get("id", ""))] = seg
                    self.visit(sub, seg)
                    stack.append(sub)


class Trace:
    """One trace: its segments (sent and inferred) and what X-Ray derives from them."""

    def __init__(self, documents: Iterable[Document | str | bytes]) -> None:
        docs = _parse(documents)
        self.segments: list[Segment] = []
        self.loose_subsegments: list[Document] = []  # streamed as their own documents
        for doc in docs:
            if doc.get("type") == "subsegment":
                self.loose_subsegments.append(doc)
            else:
                self.segments.append(Segment(doc, _segment_service(doc)))
        self.trace_id = next((str(d["trace_id"]) for d in docs if d.get("trace_id")), "")

    # --- structure --------------------------------------------------------------------------
    @cached_property
    def _index(self) -> _Index:
        """One walk over every (sub)segment: owners, downstream calls, annotated documents."""
        index = _Index()
        owner = index.owner
        for seg in self.segments:
            owner[seg.id] = seg
            index.walk(seg.doc, seg)
        # Streamed subsegments name their parent (sub)segment; resolve chains of them.
        pending = list(self.loose_subsegments)
        while pending:
            unresolved: list[Document] = []
            for sub in pending:
                parent = owner.get(str(sub.get("parent_id", "")))
                if parent is None:
                    unresolved.append(sub)
                    continue
                owner[str(sub.get("id", ""))] = parent
                index.visit(sub, parent)
                index.walk(sub, parent)
            if len(unresolved) == len(pending):
                break  # parents not (yet) in the trace
            pending = unresolved
        return index

    @property
    def _owner(self) -> dict[str, Segment]:
        """Every (sub)segment id → the sent segment it belongs to."""
        return self._index.owner

    def subsegments_of(self, seg: Segment) -> Iterator[Document]:
        """A sent segment's subsegments, nested and streamed ones alike."""
        return (doc for doc, owner in self._index.subsegments if owner is seg)

    @cached_property
    def all_segments(self) -> list[Segment]:
        """Sent segments plus the ones X-Ray infers for untraced downstream calls."""
        calls = self._index.calls
        if not calls:
            return self.segments
        called = {s.parent_id for s in self.segments if s.parent_id}
        inferred: list[Segment] = []
        for sub in calls:
            sub_id = str(sub.get("id", ""))
            if sub_id in called:
                continue  # the called service sent its own segment
            doc = dict(sub)
            doc["parent_id"] = sub_id
            doc["id"] = f"inferred-{sub_id}"
            inferred.append(Segment(doc, _inferred_service(sub), inferred=True))
        return self.segments + inferred

    def caller_of(self, seg: Segment) -> Segment | None:
        """The sent segment that called ``seg`` (owner of its parent (sub)segment), if traced."""
        # An inferred segment's parent_id is the subsegment that recorded the call.
        return self._owner.get(seg.parent_id) if seg.parent_id else None

    @cached_property
    def root(self) -> Segment | None:
        """The entry point: a sent segment whose parent is not in the trace, earliest first."""
        roots = [s for s in self.segments if self.caller_of(s) is None]
        candidates = roots or self.segments
        if not candidates:
            return None
        return min(candidates, key=lambda s: s.start if s.start is not None else float("inf"))

    @cached_property
    def edges(self) -> list[tuple[Segment | None, Segment]]:
        """(caller, callee) per call; the caller is None for the client calling the root."""
        found: list[tuple[Segment | None, Segment]] = []
        root = self.root
        for seg in self.all_segments:
            caller = self.caller_of(seg)
            if caller is not None:
                found.append((caller, seg))
            elif seg is root:
                found.append((None, seg))
        return found

    # --- trace-level values (TraceSummary, simple filter keywords) ----------------------------
    @cached_property
    def start(self) -> float | None:
        starts = [s.start for s in self.segments if s.start is not None]
        return min(starts) if starts else None

    @cached_property
    def end(self) -> float | None:
        ends = [s.end for s in self.segments if s.end is not None]
        return max(ends) if ends else None

    @cached_property
    def duration(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return self.end - self.start

    @property
    def response_time(self) -> float | None:
        return self.root.response_time if self.root is not None else None

    @property
    def has_fault(self) -> bool:  # TraceSummary: "the root segment document has a 500 series"
        return self.root is not None and self.root.fault

    @property
    def has_error(self) -> bool:  # "the root segment document has a 400 series error"
        return self.root is not None and self.root.error

    @cached_property
    def has_throttle(self) -> bool:  # "one or more of the segment documents has a 429"
        return any(s.throttle for s in self.segments)

    @cached_property
    def is_partial(self) -> bool:  # "one or more of the segment documents is in progress"
        return any(s.in_progress for s in self.segments)

    @cached_property
    def annotations(self) -> list[tuple[str, Any, ServiceId]]:
        """(key, value, service) for every annotation on any segment or subsegment."""
        found: list[tuple[str, Any, ServiceId]] = []
        for seg in self.segments:
            notes = seg.doc.get("annotations")
            if isinstance(notes, Mapping):
                found.extend((str(k), v, seg.service) for k, v in notes.items())
        for doc, seg in self._index.annotated:
            found.extend((str(k), v, seg.service) for k, v in doc["annotations"].items())
        return found

    @cached_property
    def annotation_index(self) -> dict[str, list[Any]]:
        index: dict[str, list[Any]] = {}
        for key, value, _ in self.annotations:
            index.setdefault(key, []).append(value)
        return index

    @cached_property
    def users(self) -> list[tuple[str, ServiceId]]:
        return [(str(s.doc["user"]), s.service) for s in self.segments if s.doc.get("user")]
