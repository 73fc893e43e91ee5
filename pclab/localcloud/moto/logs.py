"""CloudWatch Logs: the log half of the telemetry sink, writing events into moto's Logs backend.

moto internals read, and why (an execution environment's log lines go to its own stream, as on
Lambda; writing them in-process avoids an HTTP round trip per batch):

* ``moto.logs.models.logs_backends[account][region]`` and its ``groups[name].streams``;
* ``LogsBackend.create_log_group`` / ``create_log_stream`` / ``put_log_events``.

Nothing of moto's Logs is patched. Imports: moto only inside the method (start-up cost).
"""

from __future__ import annotations

import threading


class LogEventWriter:
    """``put_log_events`` of :class:`~pclab.localcloud.moto.MotoTelemetrySink`."""

    def __init__(self, account_id: str, region: str, lock: threading.Lock) -> None:
        self.account_id = account_id
        self.region = region
        self._lock = lock  # keeps appends to a stream ordered

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        from moto.logs.models import logs_backends

        if not events:
            return
        backend = logs_backends[self.account_id][self.region]
        with self._lock:
            if group not in backend.groups:
                backend.create_log_group(group, {})
            if stream not in backend.groups[group].streams:
                backend.create_log_stream(group, stream)
            ordered = sorted(events, key=lambda e: e[0])
            backend.put_log_events(
                group, stream, [{"timestamp": ts, "message": msg} for ts, msg in ordered]
            )
