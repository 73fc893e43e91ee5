"""X-Ray: the trace half of the telemetry sink, writing segments into moto's X-Ray backend.

moto internals read, and why (the execution environments and the Step Functions patches hand us
segment documents; writing them in-process avoids an HTTP round trip per batch):

* ``moto.xray.models.xray_backends[account][region]``;
* ``XRayBackend.process_segment(document)``: what PutTraceSegments does for one document.

Nothing of moto's X-Ray is patched. Imports: moto only inside the method (start-up cost).
"""

from __future__ import annotations

import threading

from pclab.localcloud.moto._patching import LOG


class XRaySegmentWriter:
    """``put_trace_segments`` of :class:`~pclab.localcloud.moto.MotoTelemetrySink`."""

    def __init__(self, account_id: str, region: str, lock: threading.Lock) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = lock

    def put_trace_segments(self, documents: list[str]) -> None:
        from moto.xray.models import xray_backends

        backend = xray_backends[self.account_id][self.region]
        with self._lock:
            for document in documents:
                try:
                    backend.process_segment(document)
                except Exception as error:  # one bad document must not lose the others
                    LOG.warning("X-Ray segment rejected: %s", error)
