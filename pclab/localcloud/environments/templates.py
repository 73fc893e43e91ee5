"""Templates: what a function's environments may share before its handler module runs.

With the platform model on (``--platform-model aws``), environments of one function version are
forked from a *template*: a fork server that has imported the function's dependencies once (see
``_forkserver.py``). On Lambda every environment imports them itself, on its own CPU; here 150
environments importing botocore at once would measure this machine's two cores, not Lambda. So the
template imports them once, measures what that took, and every environment is charged that time
through the platform model (``init_charges``), waiting for it as Lambda's caller would.

What is preloaded: the modules the handler module imports at its top level (``import x``,
``from x import y``, also inside a top-level ``if``/``try``), except
- relative imports and the function's own modules (a module or package in the code directory
  that no ``*.dist-info`` there installed): their import runs in every environment, as their
  init code may depend on it (environment variables, ``/tmp``, connections);
- the handler module itself: its init runs in every environment.
Third-party packages in the code directory (pip-installed by ``sam build``, with their
``*.dist-info``), the runtime's own packages and the standard library are preloaded, when at
least one of them is not in the standard library (a handler that imports only the standard
library imports it in every environment: quick, and not worth a process).

Limits (docs/local-cloud.md): a dependency that reads a per-environment variable
(``AWS_LAMBDA_LOG_STREAM_NAME``, ``AWS_LAMBDA_INITIALIZATION_TYPE``, ``TMPDIR``) at its import
sees the template's; one that starts a thread at import makes the template unusable (forking
with threads is unsafe), and its environments then import everything themselves.

Imports nothing of pclab beyond the platform model (lambda_model) and this package's data.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

from ...lambda_model.platform import CpuSample, PlatformModel
from ..invocation import FunctionSpec
from .forkserver_client import Preloaded

ImportStatement = tuple[str, str, list[str]]  # (top-level name, module, from-list)
# Per-environment variables a template must not hold (they differ in every environment).
_PER_ENVIRONMENT = ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_STREAM_NAME")


# CPython 3.11's parser is not safe to run from two threads at once: concurrent cold starts
# failed with "SystemError: AST constructor recursion depth mismatch" (CPython gh-106905).
_PARSE_LOCK = threading.Lock()


def top_level_imports(source: str) -> list[ImportStatement]:
    """The absolute imports a module runs at import time, in source order."""
    try:
        with _PARSE_LOCK:
            tree = ast.parse(source)
    except SyntaxError:
        return []  # the environment reports it (Runtime.UserCodeSyntaxError)
    found: list[ImportStatement] = []

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found.append((alias.name.partition(".")[0], alias.name, []))
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module:
                    names = [a.name for a in node.names if a.name != "*"]
                    found.append((node.module.partition(".")[0], node.module, names))
            elif isinstance(node, ast.If):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.With):
                visit(node.body)

    visit(tree.body)
    return found


def installed_top_levels(task_root: Path) -> set[str]:
    """Top-level names of the packages pip installed into the code directory."""
    names: set[str] = set()
    for info in task_root.glob("*.dist-info"):
        top_level = info / "top_level.txt"
        record = info / "RECORD"
        if top_level.is_file():
            names.update(
                line.strip() for line in top_level.read_text().splitlines() if line.strip()
            )
        elif record.is_file():
            for line in record.read_text().splitlines():
                first = line.split(",", 1)[0].split("/", 1)[0]
                if first and not first.endswith((".dist-info", ".data")) and first != "..":
                    names.add(first.removesuffix(".py"))
    return names


def _handler_file(task_root: Path, handler: str) -> Path | None:
    module = handler.rpartition(".")[0].replace("/", ".")
    if not module:
        return None
    base = task_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=256)
def preload_plan(task_root: Path, handler: str) -> tuple[ImportStatement, ...]:
    """The handler module's imports a template may preload (module docstring)."""
    path = _handler_file(task_root, handler)
    if path is None:
        return ()  # no such module: the environment reports Runtime.ImportModuleError
    own_module = handler.rpartition(".")[0].replace("/", ".").partition(".")[0]
    installed = installed_top_levels(task_root)
    plan: list[ImportStatement] = []
    for top, module, fromlist in top_level_imports(path.read_text(errors="replace")):
        if top == own_module:
            continue
        own_code = (task_root / f"{top}.py").is_file() or (task_root / top).is_dir()
        if own_code and top not in installed:
            continue
        plan.append((top, module, fromlist))
    return tuple(plan)


def template_key(spec: FunctionSpec) -> str:
    """Which environments may share a template: same code, handler, runtime and variables.

    Not the function's name, version or memory: the sample's two functions are one package, and
    the Lambda variables that differ (``AWS_LAMBDA_FUNCTION_NAME``, ``..._MEMORY_SIZE``) are set in
    each environment after the fork, before its handler module runs.
    """
    key = json.dumps(
        [
            spec.code_sha256,
            spec.handler,
            spec.runtime,
            sorted(spec.environment.items()),
            spec.region,
        ]
    )
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def build_template(
    key: str, env: dict[str, str], task_root: Path, handler: str, tmp: Path
) -> dict[str, Any] | None:
    """The ``--template`` of a fork server for one function version; None: nothing to preload."""
    plan = preload_plan(task_root, handler)
    if all(top in sys.stdlib_module_names for top, _, _ in plan):
        return None  # the standard library alone is quick to import: not worth a process
    template_env = {k: v for k, v in env.items() if k not in _PER_ENVIRONMENT}
    template_env["TMPDIR"] = template_env["HOME"] = str(tmp)
    return {
        "key": key,
        "env": template_env,
        "cwd": str(task_root),
        "path": [str(task_root)],
        "imports": [list(statement) for statement in plan],
    }


def init_charges(model: PlatformModel, preloaded: Preloaded, memory_mb: int) -> dict[str, float]:
    """Seconds each preloaded top-level module's import takes on Lambda (platform model)."""
    return {
        top: model.init_seconds(CpuSample(wall, cpu, delay), memory_mb)
        for top, (wall, cpu, delay) in preloaded.costs.items()
    }


def platform_waits(
    model: PlatformModel, spec: FunctionSpec, charges: dict[str, float], started_at: float
) -> dict[str, Any] | None:
    """The ``platform`` entry of a launch request (``_forkserver.py``); None: model off."""
    if not model.enabled:
        return None
    return {
        "start": started_at,
        "runtime_start": model.runtime_start_s(spec.runtime),
        "charges": charges,
        "cpu_scale": model.init_cpu_scale(spec.memory_mb),
    }
