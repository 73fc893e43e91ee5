"""SnapStart in moto's Lambda: the function's setting kept, versions published with a snapshot.

moto 5.2.5 drops ``SnapStart`` from CreateFunction / UpdateFunctionConfiguration and always shows
``{"ApplyOn": "None", "OptimizationStatus": "Off"}``. What is patched, and why:

* ``LambdaFunction.__init__`` / ``update_configuration``: keep ``SnapStart.ApplyOn`` (as
  ``pclab_snap_start``; copied into each published version with the rest of the function) and refuse
  a runtime SnapStart does not support with AWS's ``InvalidParameterValueException``
  ``"<runtime> is not supported for SnapStart enabled functions."`` (the message AWS answers, as
  quoted in public deploy logs and LocalStack's Lambda provider);
* ``LambdaFunction.get_configuration``: ``SnapStart`` as Lambda shows it (``OptimizationStatus``
  ``On`` on a published version of a SnapStart function, ``Off`` on ``$LATEST``), and a published
  version's ``State`` from its snapshot: ``Pending`` while its init runs, ``Active``, or ``Failed``
  with ``StateReason``;
* ``LambdaBackend.publish_version``: a new version of a SnapStart function starts its snapshot in
  the execution layer (through the control plane).

CloudFormation's ``SnapStart`` property is applied by :mod:`.cloudformation_lambda`
(:func:`apply_snap_start`). Imports: moto only inside functions.
"""

from __future__ import annotations

import re
from typing import Any

from pclab.localcloud.moto._patching import _control, _patch

PUBLISHED_VERSIONS = "PublishedVersions"
# Python 3.12+, Java 11+, .NET 8+ (AWS docs, "Improving startup performance with Lambda SnapStart")
_SUPPORTED = re.compile(r"^(python3\.(1[2-9]|[2-9]\d)|java(1[1-9]|[2-9]\d)|dotnet([89]|\d\d))$")


def snap_start_error(runtime: str | None, apply_on: str) -> str | None:
    """AWS's refusal of SnapStart on this runtime, or None when it is allowed (or off)."""
    if apply_on != PUBLISHED_VERSIONS or _SUPPORTED.match(runtime or ""):
        return None
    return f"{runtime} is not supported for SnapStart enabled functions."


def _apply_on(config: Any) -> str:
    apply_on = (config or {}).get("ApplyOn", "None") if isinstance(config, dict) else "None"
    return str(apply_on)


def apply_snap_start(fn: Any, config: Any) -> None:
    """Set a function's SnapStart (ValueError with AWS's message when its runtime cannot)."""
    apply_on = _apply_on(config)
    error = snap_start_error(fn.run_time, apply_on)
    if error:
        raise ValueError(error)
    fn.pclab_snap_start = apply_on


def snap_start_of(fn: Any) -> str:
    return str(getattr(fn, "pclab_snap_start", "None"))


def install_snap_start() -> None:
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    original_init = LambdaFunction.__init__

    def init(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        try:
            apply_snap_start(self, spec.get("SnapStart"))
        except ValueError as exc:
            raise InvalidParameterValueException(str(exc)) from None

    _patch(LambdaFunction, "__init__", init)

    original_update = LambdaFunction.update_configuration

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        config = updates.get("SnapStart", {"ApplyOn": snap_start_of(self)})
        if snap_start_error(updates.get("Runtime", self.run_time), _apply_on(config)):
            raise InvalidParameterValueException(
                str(snap_start_error(updates.get("Runtime", self.run_time), _apply_on(config)))
            )
        result: dict[str, Any] = original_update(self, updates)
        self.pclab_snap_start = _apply_on(config)
        result["SnapStart"] = _shown(self)
        return result

    _patch(LambdaFunction, "update_configuration", update_configuration)

    original_get = LambdaFunction.get_configuration

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config: dict[str, Any] = original_get(self, *args, **kwargs)
        config["SnapStart"] = _shown(self)
        version = str(self.version)
        if version != "$LATEST" and snap_start_of(self) == PUBLISHED_VERSIONS:
            found = _control().snapshot_state(self.region, self.function_name, version)
            if found is not None:
                config["State"], reason = found
                if reason:
                    config["StateReason"] = reason
        return config

    _patch(LambdaFunction, "get_configuration", get_configuration)

    original_publish = LambdaBackend.publish_version

    def publish_version(self: Any, function_name: str, description: str = "") -> Any:
        fn = original_publish(self, function_name, description)
        if fn is not None and snap_start_of(fn) == PUBLISHED_VERSIONS:
            _control().publish_version(self.region_name, fn.function_name, str(fn.version))
        return fn

    _patch(LambdaBackend, "publish_version", publish_version)


def _shown(fn: Any) -> dict[str, str]:
    apply_on = snap_start_of(fn)
    on = apply_on == PUBLISHED_VERSIONS and str(fn.version) != "$LATEST"
    return {"ApplyOn": apply_on, "OptimizationStatus": "On" if on else "Off"}
