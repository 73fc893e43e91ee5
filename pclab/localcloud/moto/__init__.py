"""Every change we make to moto, behind one seam: :func:`install`.

This package is the only part of pclab that imports moto (moto is pinned in pyproject.toml for
that reason). Each module names at its top the moto internals it patches or reads, and why;
``tests/localcloud/moto/`` holds one guard test module per module here, asserting that each of
those internals still exists with the shape we expect, so a moto upgrade that moves one fails
loudly there instead of quietly breaking a deploy.

One module per AWS service we extend (see FACTS.md for why moto needs each change):

* :mod:`.lambda_`: the control plane's read-only view of moto's functions, versions and aliases
  (:class:`MotoFunctionDirectory`), and moto's Lambda backend telling the control plane of
  deletions and alias moves;
* :mod:`.stepfunctions`: the interpreter's Lambda task through the invocation seam, traces of
  executions, the inline Map's cap of 40, EXPRESS children of a Distributed Map;
  :mod:`.stepfunctions_wait`: a Wait state's timestamp read as UTC and waited to the second;
  :mod:`.stepfunctions_history`: GetExecutionHistory in AWS's pages;
  :mod:`.stepfunctions_jsonpath`: each JSONPath parsed once;
* CloudFormation, in four modules: :mod:`.cloudformation_stacks` (every CloudFormation patch:
  the SAM transform, parameters, change sets, CreateStack/UpdateStack, our models in moto's model
  map), :mod:`.cloudformation_events` (resource events, failure and rollback, waiting for
  provisioned concurrency), :mod:`.cloudformation_resources` (the models' shared base and the
  resource schema check), :mod:`.cloudformation_lambda` and :mod:`.cloudformation_stepfunctions`
  (our models of ``AWS::Lambda::Function``/``Version``/``Alias`` and
  ``AWS::StepFunctions::StateMachine``), :mod:`.cloudformation_apigateway` (HTTP APIs:
  ``AWS::ApiGatewayV2::Api``/``Stage`` and the route a request takes);
* :mod:`.xray` and :mod:`.logs`: the two halves of :class:`MotoTelemetrySink`, writing what the
  execution environments report into moto's X-Ray and CloudWatch Logs backends;
* :mod:`.cloudwatch`: Lambda's metrics (``AWS/Lambda``), aggregated by the execution
  environments and served through moto's CloudWatch backend when read, with CloudWatch's exact
  dimension matching and percentiles;
* :mod:`.sts`: the execution role's session each execution environment is given (AssumeRole
  through moto's STS);
* :mod:`.wsgi`: moto's server app and request handler, for :mod:`pclab.localcloud.server`;
* :mod:`._patching`: the shared ``_patch`` / ``_dispatcher`` machinery and ``PATCHED`` /
  ``ORIGINALS``.

Patches are process-wide; each dispatches to moto's original when no local cloud runs in the
process (:func:`deactivate`). The CloudFormation ones are installed on first use
(:func:`ensure_cloudformation`): importing moto's CloudFormation costs about a second of start-up.
Imports of this package and its modules are cheap: moto is imported inside functions only.
"""

from __future__ import annotations

import threading

from pclab.localcloud.invocation import TelemetrySink
from pclab.localcloud.lambda_control import LambdaControlPlane
from pclab.localcloud.moto._patching import (
    ACCOUNT_ID,
    ORIGINALS,
    PATCHED,
    _install_lock,
    _installed,
)
from pclab.localcloud.moto.cloudformation_apigateway import HttpApiRoute, http_api_route
from pclab.localcloud.moto.cloudformation_resources import supported_types as _supported_types
from pclab.localcloud.moto.cloudformation_resources import types_markdown
from pclab.localcloud.moto.cloudformation_stacks import _install_cloudformation
from pclab.localcloud.moto.cloudwatch import MetricsSource, _install_cloudwatch
from pclab.localcloud.moto.lambda_ import MotoFunctionDirectory, _install_lambda
from pclab.localcloud.moto.logs import LogEventWriter, _install_logs
from pclab.localcloud.moto.stepfunctions import _install_stepfunctions
from pclab.localcloud.moto.stepfunctions_history import _install_history
from pclab.localcloud.moto.stepfunctions_jsonpath import _install_jsonpath
from pclab.localcloud.moto.stepfunctions_wait import _install_wait
from pclab.localcloud.moto.wsgi import moto_wsgi_app, request_handler
from pclab.localcloud.moto.xray import XRaySegmentWriter, _install_xray

__all__ = [
    "ORIGINALS",
    "PATCHED",
    "HttpApiRoute",
    "MetricsSource",
    "MotoFunctionDirectory",
    "MotoTelemetrySink",
    "configure_moto",
    "deactivate",
    "ensure_cloudformation",
    "http_api_route",
    "install",
    "moto_wsgi_app",
    "request_handler",
    "supported_types",
    "types_markdown",
]


class MotoTelemetrySink:
    """TelemetrySink over moto's X-Ray and CloudWatch Logs backends (in-process, no HTTP).

    One lock, shared by both halves, keeps appends to a stream ordered.
    """

    def __init__(self, account_id: str = ACCOUNT_ID, region: str = "us-east-1") -> None:
        self.account_id = account_id
        self.region = region
        self._lock = threading.Lock()
        self._xray = XRaySegmentWriter(account_id, region, self._lock)
        self._logs = LogEventWriter(account_id, region, self._lock)

    def put_trace_segments(self, documents: list[str]) -> None:
        self._xray.put_trace_segments(documents)

    def put_log_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        self._logs.put_log_events(group, stream, events)


def install(
    control_plane: LambdaControlPlane,
    telemetry: TelemetrySink | None = None,
    *,
    metrics: MetricsSource | None = None,
    cloudformation_now: bool = True,
) -> None:
    """Apply every patch (once per process) and route them to this control plane.

    A second call only swaps the control plane (tests run several local clouds in one process).
    With ``cloudformation_now=False`` the CloudFormation patches wait for
    :func:`ensure_cloudformation` (the server calls it on the first CloudFormation request):
    importing moto's CloudFormation costs about a second, which a start should not wait for.
    ``metrics`` is read each time somebody reads a Lambda metric from CloudWatch.
    """
    with _install_lock:
        _installed["control_plane"] = control_plane
        _installed["telemetry"] = telemetry
        _installed["metrics"] = metrics
        _installed["active"] = True
        if not _installed.get("done"):
            _install_lambda()
            _install_stepfunctions()
            _install_wait()
            _install_history()
            _install_jsonpath()
            _install_cloudwatch()
            _install_xray()
            _install_logs()
            _installed["done"] = True
    if cloudformation_now:
        ensure_cloudformation()


def ensure_cloudformation() -> None:
    """Install the CloudFormation patches if not yet done (idempotent, thread-safe)."""
    if _installed.get("cloudformation"):
        return
    with _install_lock:
        if not _installed.get("cloudformation"):
            _install_cloudformation()
            _installed["cloudformation"] = True


def supported_types() -> list[str]:
    """The CloudFormation resource types the local cloud creates (moto's and ours), sorted.

    Any other type fails its stack with "not supported by the local cloud". Installs the
    CloudFormation patches first: our models are part of the list.
    """
    ensure_cloudformation()
    return _supported_types()


def deactivate() -> None:
    """The local cloud stopped: patched moto functions behave as moto's own again."""
    with _install_lock:
        _installed["active"] = False


def configure_moto() -> None:
    """moto settings the local cloud depends on (moto's ``POST /moto-api/config`` equivalent)."""
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    # moto's own Lambda would only echo payloads without Docker; ours runs through the seam.
    default_user_config["lambda"] = {**default_user_config.get("lambda", {}), "use_docker": False}
