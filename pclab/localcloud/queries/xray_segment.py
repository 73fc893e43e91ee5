"""One segment of an X-Ray trace, as X-Ray's query side sees it, and the service it belongs to.

:class:`Segment` reads what every query needs from one segment document once, when the
document arrives (times, status flags from ``error``/``fault``/``throttle`` and the HTTP status,
the response time); :class:`ServiceId` is its node of the service map. The rules are X-Ray's,
quoted in :mod:`.xray_trace`, which builds traces from these. Imports nothing but the standard
library.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, NamedTuple

Document = Mapping[str, Any]


class ServiceId(NamedTuple):
    """A node of the service map: X-Ray's ServiceId (Name, Names, AccountId, Type).

    A named tuple rather than a dataclass: the service graph hashes one per segment, and a
    tuple hashes in C (a dataclass's ``__hash__`` was 15 % of a graph over 10,000 traces).
    """

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


def is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, with a dict (parsed JSON) answered without the ABC."""
    return type(value) is dict or isinstance(value, Mapping)


def http_status(doc: Document) -> int | None:
    http = doc.get("http")
    if http is None or not is_mapping(http):
        return None
    response = http.get("response")
    if response is None or not is_mapping(response):
        return None
    status = response.get("status")
    return status if type(status) is int else None  # not a bool (JSON has no int subclasses)


def http_request(doc: Document) -> Mapping[str, Any]:
    http = doc.get("http")
    request = http.get("request") if isinstance(http, Mapping) else None
    return request if isinstance(request, Mapping) else {}


class Segment:
    """A segment of the trace, sent (``inferred`` False) or inferred from a downstream call."""

    __slots__ = (
        "doc",
        "elapsed",
        "end",
        "error",
        "fault",
        "id",
        "in_progress",
        "inferred",
        "parent_id",
        "rounded",
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
        # The response time, when the segment completed (the service graph counts only those).
        start, end = self.start, self.end
        self.elapsed = (
            end - start if start is not None and end is not None and not self.in_progress else None
        )
        self.rounded = None if self.elapsed is None else round(self.elapsed, 3)  # histograms'
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


def segment_service(doc: Document) -> ServiceId:
    aws = doc.get("aws")
    account = aws.get("account_id") if aws is not None and is_mapping(aws) else None
    origin = doc.get("origin")
    return _service(
        str(doc.get("name", "")), str(origin) if origin else None, str(account) if account else None
    )


@lru_cache(maxsize=4096)  # a few services recur in every trace: build each ServiceId once
def _service(name: str, type_: str | None, account: str | None) -> ServiceId:
    return ServiceId(name=name, type=type_, account_id=account)


def inferred_service(sub: Document) -> ServiceId:
    """The node X-Ray infers for a downstream call (``namespace`` aws or remote)."""
    name = str(sub.get("name", ""))
    if sub.get("namespace") == "remote":
        return ServiceId(name=name, type="remote")
    aws = sub.get("aws")
    table = aws.get("table_name") if isinstance(aws, Mapping) else None
    if table:  # the guide's example: a DynamoDB call becomes its table's node
        return ServiceId(name=str(table), type=f"AWS::{name}::Table")
    return ServiceId(name=name, type=f"AWS::{name}")


def parse_documents(documents: Iterable[Document | str | bytes]) -> list[Document]:
    parsed: list[Document] = []
    for doc in documents:
        if type(doc) is dict:  # the usual case, first
            parsed.append(doc)
        elif isinstance(doc, str | bytes):
            try:
                loaded = json.loads(doc)
            except ValueError:
                continue  # X-Ray drops documents it cannot parse
            if isinstance(loaded, Mapping):
                parsed.append(loaded)
        elif isinstance(doc, Mapping):
            parsed.append(doc)
    return parsed
