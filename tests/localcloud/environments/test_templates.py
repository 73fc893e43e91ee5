"""What a template preloads (templates.py): the handler's dependencies, not the function's code."""

from __future__ import annotations

from pathlib import Path

from pclab.lambda_model import platform as pm
from pclab.localcloud.environments.forkserver_client import Preloaded
from pclab.localcloud.environments.templates import (
    build_template,
    init_charges,
    installed_top_levels,
    platform_waits,
    preload_plan,
    template_key,
    top_level_imports,
)

from .conftest import make_spec

HANDLER = """
import os, json as j
import botocore.session
from aws_xray_sdk.core import xray_recorder
from . import sibling
from helper import thing
import vendored
try:
    import yaml
except ImportError:
    yaml = None
if os.environ.get("X"):
    import decimal

def handler(event, context):
    import late  # at invocation time: not preloaded
    return event
"""


def test_top_level_imports_in_source_order() -> None:
    assert top_level_imports(HANDLER) == [
        ("os", "os", []),
        ("json", "json", []),
        ("botocore", "botocore.session", []),
        ("aws_xray_sdk", "aws_xray_sdk.core", ["xray_recorder"]),
        ("helper", "helper", ["thing"]),
        ("vendored", "vendored", []),
        ("yaml", "yaml", []),
        ("decimal", "decimal", []),
    ]
    assert top_level_imports("def broken(:\n") == []


def _code(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(HANDLER)
    (tmp_path / "helper.py").write_text("thing = 1\n")  # the function's own module
    (tmp_path / "vendored").mkdir()  # pip-installed into the package (sam build)
    (tmp_path / "vendored" / "__init__.py").write_text("")
    info = tmp_path / "vendored-1.0.dist-info"
    info.mkdir()
    (info / "RECORD").write_text("vendored/__init__.py,,\nvendored-1.0.dist-info/RECORD,,\n")
    return tmp_path


def test_the_functions_own_modules_and_the_handler_are_not_preloaded(tmp_path: Path) -> None:
    root = _code(tmp_path)
    assert installed_top_levels(root) == {"vendored"}
    plan = preload_plan(root, "app.handler")
    tops = [top for top, _, _ in plan]
    assert "helper" not in tops and "app" not in tops
    assert tops == ["os", "json", "botocore", "aws_xray_sdk", "vendored", "yaml", "decimal"]
    assert preload_plan(root, "missing.handler") == ()


def test_a_template_holds_no_per_environment_variable(tmp_path: Path) -> None:
    root = _code(tmp_path)
    env = {
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1",
        "AWS_LAMBDA_LOG_STREAM_NAME": "s",
        "TMPDIR": "/env/tmp",
        "HOME": "/env/tmp",
        "LAMBDA_TASK_ROOT": str(root),
    }
    template = build_template("k", env, root, "app.handler", tmp_path / "t")
    assert template is not None
    assert "AWS_LAMBDA_RUNTIME_API" not in template["env"]
    assert "AWS_LAMBDA_LOG_STREAM_NAME" not in template["env"]
    assert template["env"]["TMPDIR"] == str(tmp_path / "t")
    assert template["env"]["LAMBDA_TASK_ROOT"] == str(root)
    assert template["cwd"] == str(root) and template["path"] == [str(root)]


def test_a_handler_of_the_standard_library_alone_needs_no_template(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import os, json\ndef handler(e, c):\n    return e\n")
    assert build_template("k", {}, tmp_path, "app.handler", tmp_path / "t") is None


def test_functions_of_one_package_share_a_template_key() -> None:
    one = make_spec("one")
    assert template_key(one) == template_key(make_spec("two", version="3"))
    assert template_key(one) != template_key(make_spec("one", env={"X": "1"}))


def test_charges_and_waits_follow_the_model() -> None:
    preloaded = Preloaded(costs={"botocore": (0.12, 0.08, 0.03), "os": (0.0, 0.0, 0.0)})
    charges = init_charges(pm.AWS, preloaded, 128)
    # Blocked time kept (0.01), CPU at one vCPU (0.08), waiting for this machine's CPU dropped.
    assert abs(charges["botocore"] - 0.09) < 1e-9 and charges["os"] == 0.0
    spec = make_spec("w")
    waits = platform_waits(pm.AWS, spec, charges, 100.0)
    assert waits == {
        "start": 100.0,
        "runtime_start": pm.AWS.runtime_start_s("python3.11"),
        "charges": charges,
        "cpu_scale": 1.0,
    }
    assert platform_waits(pm.RAW, spec, charges, 100.0) is None
