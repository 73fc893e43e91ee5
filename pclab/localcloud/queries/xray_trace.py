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

Imports :mod:`.xray_segment` (one segment and its service) and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .xray_segment import (
    CLIENT_TYPE,
    Document,
    Segment,
    ServiceId,
    http_request,
    http_status,
    inferred_service,
    is_mapping,
    parse_documents,
    segment_service,
)

__all__ = [
    "CLIENT_TYPE",
    "Document",
    "Segment",
    "ServiceId",
    "Trace",
    "http_request",
    "http_status",
]


class _Index:
    """What walking a trace's documents finds, grown document by document."""

    __slots__ = ("annotations", "by_key", "calls", "owner", "subsegments")

    def __init__(self) -> None:
        self.owner: dict[str, Segment] = {}
        self.subsegments: list[tuple[Document, Segment]] = []
        self.calls: list[Document] = []  # namespace aws/remote: downstream calls
        self.annotations: list[tuple[str, Any, ServiceId]] = []
        self.by_key: dict[str, list[Any]] = {}  # annotation key -> its values

    def segment(self, seg: Segment) -> None:
        """A sent segment: it, its annotations and its nested subsegments."""
        self.owner[seg.id] = seg
        self.note(seg.doc, seg)
        self.walk(seg.doc, seg)

    def note(self, doc: Document, seg: Segment) -> None:
        notes = doc.get("annotations")
        if notes and is_mapping(notes):
            for key, value in notes.items():
                name = str(key)
                self.annotations.append((name, value, seg.service))
                values = self.by_key.get(name)
                if values is None:
                    self.by_key[name] = [value]
                else:
                    values.append(value)

    def visit(self, sub: Document, seg: Segment) -> None:
        self.subsegments.append((sub, seg))
        if sub.get("namespace") in ("aws", "remote"):
            self.calls.append(sub)
        self.note(sub, seg)

    def walk(self, doc: Document, seg: Segment) -> None:
        """Visit the subsegments nested in ``doc``, depth first."""
        subs = doc.get("subsegments")
        if not subs or not isinstance(subs, list):
            return
        owner, visit = self.owner, self.visit
        stack = [subs]
        while stack:
            for sub in stack.pop():
                if is_mapping(sub):
                    owner[str(sub.get("id", ""))] = seg
                    visit(sub, seg)
                    nested = sub.get("subsegments")
                    if nested and isinstance(nested, list):
                        stack.append(nested)


_MISSING: Any = object()


class Trace:
    """One trace: its segments (sent and inferred) and what X-Ray derives from them.

    Built from a trace's documents, or grown one document at a time with :meth:`add` as they
    arrive (the local cloud does, so a query over 10,000 traces does not read 60,000 documents
    first). The per-document work (a :class:`Segment`, its subsegments walked) happens in
    :meth:`add`; trace-level values (root, edges, annotations ...) are computed on first read
    and forgotten when a document is added.
    """

    def __init__(self, documents: Iterable[Document | str | bytes] = ()) -> None:
        self.segments: list[Segment] = []
        self.loose_subsegments: list[Document] = []  # streamed as their own documents
        self.trace_id = ""
        self.documents = 0  # documents added (kept or not): how a store tells it is up to date
        self._position: dict[str, int] = {}  # segment id -> its place in ``segments``
        self._index = _Index()
        self._pending: list[Document] = []  # streamed subsegments whose parent is not here yet
        self._cache: dict[str, Any] = {}
        self.add(documents)

    def add(self, documents: Iterable[Document | str | bytes]) -> None:
        """Add documents; a completed segment replaces the in-progress one sent before it."""
        replaced = False
        index = self._index
        for doc in parse_documents(documents):
            self.documents += 1
            if not self.trace_id and doc.get("trace_id"):
                self.trace_id = str(doc["trace_id"])
            if doc.get("type") == "subsegment":
                self.loose_subsegments.append(doc)
                self._pending.append(doc)
                continue
            seg = Segment(doc, segment_service(doc))
            at = self._position.get(seg.id)
            if at is None:
                self._position[seg.id] = len(self.segments)
                self.segments.append(seg)
                index.segment(seg)
            elif seg.end is not None or self.segments[at].end is None:
                self.segments[at] = seg
                replaced = True
        if replaced:  # rare: walk again rather than unpick the replaced segment's entries
            index = self._index = _Index()
            for seg in self.segments:
                index.segment(seg)
            self._pending = list(self.loose_subsegments)
        if self._pending:
            self._resolve()
        self._cache = {}

    def _resolve(self) -> None:
        """Streamed subsegments name their parent (sub)segment; resolve chains of them."""
        index = self._index
        owner = index.owner
        pending = self._pending
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
        self._pending = pending

    def _lazy(self, name: str, compute: Callable[[], Any]) -> Any:
        """A trace-level value, computed once per set of documents."""
        value = self._cache.get(name, _MISSING)
        if value is _MISSING:
            value = self._cache[name] = compute()
        return value

    # --- structure --------------------------------------------------------------------------
    @property
    def _owner(self) -> dict[str, Segment]:
        """Every (sub)segment id → the sent segment it belongs to."""
        return self._index.owner

    def subsegments_of(self, seg: Segment) -> Iterator[Document]:
        """A sent segment's subsegments, nested and streamed ones alike."""
        return (doc for doc, owner in self._index.subsegments if owner is seg)

    @property
    def all_segments(self) -> list[Segment]:
        """Sent segments plus the ones X-Ray infers for untraced downstream calls."""
        if not self._index.calls:
            return self.segments
        found: list[Segment] = self._lazy("all_segments", self._with_inferred)
        return found

    def _with_inferred(self) -> list[Segment]:
        called = {s.parent_id for s in self.segments if s.parent_id}
        inferred: list[Segment] = []
        for sub in self._index.calls:
            sub_id = str(sub.get("id", ""))
            if sub_id in called:
                continue  # the called service sent its own segment
            doc = dict(sub)
            doc["parent_id"] = sub_id
            doc["id"] = f"inferred-{sub_id}"
            inferred.append(Segment(doc, inferred_service(sub), inferred=True))
        return self.segments + inferred

    def caller_of(self, seg: Segment) -> Segment | None:
        """The sent segment that called ``seg`` (owner of its parent (sub)segment), if traced."""
        # An inferred segment's parent_id is the subsegment that recorded the call.
        return self._index.owner.get(seg.parent_id) if seg.parent_id else None

    @property
    def root(self) -> Segment | None:
        """The entry point: a sent segment whose parent is not in the trace, earliest first."""
        root: Segment | None = self._lazy("root", self._find_root)
        return root

    def _find_root(self) -> Segment | None:
        owner = self._index.owner
        roots = [s for s in self.segments if not s.parent_id or s.parent_id not in owner]
        candidates = roots or self.segments
        if not candidates:
            return None
        return min(candidates, key=lambda s: s.start if s.start is not None else float("inf"))

    @property
    def edges(self) -> list[tuple[Segment | None, Segment]]:
        """(caller, callee) per call; the caller is None for the client calling the root."""
        found: list[tuple[Segment | None, Segment]] = self._lazy("edges", self._find_edges)
        return found

    def _find_edges(self) -> list[tuple[Segment | None, Segment]]:
        found: list[tuple[Segment | None, Segment]] = []
        root = self.root
        owner = self._index.owner
        for seg in self.all_segments:
            caller = owner.get(seg.parent_id) if seg.parent_id else None
            if caller is not None:
                found.append((caller, seg))
            elif seg is root:
                found.append((None, seg))
        return found

    # --- trace-level values (TraceSummary, simple filter keywords) ----------------------------
    @property
    def start(self) -> float | None:
        start: float | None = self._lazy(
            "start",
            lambda: min((s.start for s in self.segments if s.start is not None), default=None),
        )
        return start

    @property
    def end(self) -> float | None:
        end: float | None = self._lazy(
            "end", lambda: max((s.end for s in self.segments if s.end is not None), default=None)
        )
        return end

    @property
    def duration(self) -> float | None:
        start, end = self.start, self.end
        return None if start is None or end is None else end - start

    @property
    def response_time(self) -> float | None:
        root = self.root
        return root.response_time if root is not None else None

    @property
    def has_fault(self) -> bool:  # TraceSummary: "the root segment document has a 500 series"
        root = self.root
        return root is not None and root.fault

    @property
    def has_error(self) -> bool:  # "the root segment document has a 400 series error"
        root = self.root
        return root is not None and root.error

    @property
    def has_throttle(self) -> bool:  # "one or more of the segment documents has a 429"
        return any(s.throttle for s in self.segments)

    @property
    def is_partial(self) -> bool:  # "one or more of the segment documents is in progress"
        return any(s.in_progress for s in self.segments)

    @property
    def annotations(self) -> list[tuple[str, Any, ServiceId]]:
        """(key, value, service) for every annotation on any segment or subsegment."""
        return self._index.annotations

    @property
    def annotation_index(self) -> dict[str, list[Any]]:
        """Annotation key -> its values, on any segment or subsegment."""
        return self._index.by_key

    @property
    def users(self) -> list[tuple[str, ServiceId]]:
        return [(str(s.doc["user"]), s.service) for s in self.segments if s.doc.get("user")]
