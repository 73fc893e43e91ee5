"""The HTTP load of ``pclab run --url``, made by locust (a real load tool) in its own process.

Run as ``python -m pclab.cloud.http_load SPEC OUT``: SPEC is a JSON file (url, method, body,
headers, the arrival offsets in whole seconds, the arrival zero as epoch seconds, timeout); OUT
gets one record per request, as locust's ``request`` event measured it (start, response time,
status, API Gateway's ``apigw-requestid``, the error if any).

WHY a process of its own: importing locust monkey-patches the interpreter for gevent (sockets,
threads, ssl), which the runner's boto3 and progress bars must not get. Each request is one
locust user that waits for its arrival time (all users exist before the first is due, so a
burst is really at once), sends once and stops.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


def main(spec_file: str, out_file: str) -> int:
    from gevent import sleep  # type: ignore[import-untyped]
    from locust import HttpUser, constant, events, task
    from locust.env import Environment
    from locust.exception import StopUser

    spec: dict[str, Any] = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    url = urlsplit(spec["url"])
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    offsets: list[int] = spec["offsets"]
    zero: float = spec["zero"]
    records: list[dict[str, Any]] = []
    next_index = iter(range(len(offsets)))

    @events.request.add_listener  # type: ignore[untyped-decorator]
    def recorded(
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", None) or None
        headers = getattr(response, "headers", None) or {}
        records.append(
            {
                "index": (context or {}).get("index"),
                "start": start_time,
                "end": (start_time or 0.0) + response_time / 1000.0,
                "latency_ms": response_time,
                "status": status,
                "apigw_request_id": headers.get("apigw-requestid"),
                "bytes": response_length,
                "error": None if exception is None else f"{type(exception).__name__}: {exception}",
            }
        )

    class Caller(HttpUser):
        host = f"{url.scheme}://{url.netloc}"
        wait_time = constant(0)

        @task
        def call(self) -> None:
            index = next(next_index)
            delay = zero + offsets[index] - time.time()
            if delay > 0:
                sleep(delay)
            self.client.request(
                spec["method"],
                path,
                data=spec.get("body"),
                headers=spec.get("headers") or {},
                timeout=spec["timeout"],
                name=path,
                context={"index": index},
            )
            raise StopUser()

    environment = Environment(user_classes=[Caller], events=events)
    runner = environment.create_local_runner()
    runner.start(len(offsets), spawn_rate=1_000_000)
    deadline = zero + max(offsets, default=0) + spec["timeout"] + 5.0
    while len(records) < len(offsets) and time.time() < deadline:
        sleep(0.02)
    runner.quit()
    Path(out_file).write_text(json.dumps({"requests": records}) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
