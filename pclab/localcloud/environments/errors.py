"""What Lambda says when a runtime fails: its error documents and how it names a process's end."""

from __future__ import annotations

import json
import signal


def _signal_name(sig: int) -> str:
    # As Lambda (Go's ProcessState) prints them: "signal: killed", "signal: segmentation fault".
    names = {
        signal.SIGKILL: "killed",
        signal.SIGTERM: "terminated",
        signal.SIGSEGV: "segmentation fault",
        signal.SIGABRT: "aborted",
        signal.SIGINT: "interrupt",
        signal.SIGBUS: "bus error",
    }
    return names.get(signal.Signals(sig), signal.Signals(sig).name.lower())


def exit_description(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        return f"signal: {_signal_name(-code)}"
    return f"exit status {code}"


def error_type_of(body: bytes) -> str | None:
    """The ``errorType`` of a runtime's error document, when the header did not say it."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    value = doc.get("errorType") if isinstance(doc, dict) else None
    return str(value) if value else None


def lambda_error(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()
