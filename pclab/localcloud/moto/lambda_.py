"""Lambda: the control plane's read-only view of moto's functions, and moto's Lambda backend hooks.

moto internals read, and why:

* ``moto.awslambda.utils.get_backend``: moto picks ``lambda_simple_backends`` when ``use_docker`` is
  off (our setting); every reader here asks it for the backend rather than guessing which.
* ``LambdaBackend._lambdas`` (a LambdaStorage: ``_functions[name] = {"latest": LambdaFunction,
  "versions": [...]}``, ``_aliases[arn]``) and the ``LambdaFunction`` fields ``function_name``,
  ``handler``, ``run_time``, ``memory_size``, ``timeout``, ``environment_vars``, ``code_bytes``,
  ``code_sha_256``, ``tracing_config``, ``reserved_concurrency``, ``role``: what
  :class:`MotoFunctionDirectory` turns into a :class:`~pclab.localcloud.invocation.FunctionSpec`.

moto internals patched, and why (moto has no provisioned concurrency, so nothing of moto's would
release a pool or a reservation):

* ``LambdaBackend.delete_function`` / ``delete_alias`` / ``update_alias`` tell the control plane,
  so provisioned pools and reservations go with what they belong to;
* ``LambdaResponse.delete_alias`` / ``get_alias`` / ``update_alias`` answer with Lambda's status
  codes (moto 5.2.5 answers all three 201): DeleteAlias 204 with an empty body, GetAlias and
  UpdateAlias 200, as the Lambda API reference and botocore's service model
  (``http.responseCode``) give them and AWS's recorded DeleteAlias shows
  (``/work/shared/aws-recorded``). moto takes the status from the ``status`` header of the tuple
  a response method returns, so both are set. CreateAlias (201) and PublishVersion (201) are
  right in moto; the provisioned-concurrency routes are answered by
  :mod:`pclab.localcloud.lambda_api`, not moto.

Imports: moto only inside functions (importing it costs start-up time); the control plane through
:mod:`._patching`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pclab.localcloud.invocation import FunctionSpec
from pclab.localcloud.moto._patching import ACCOUNT_ID, _control, _patch
from pclab.localcloud.moto.lambda_snapstart import (
    PUBLISHED_VERSIONS,
    install_snap_start,
    snap_start_of,
)
from pclab.localcloud.moto.sts import RoleCredentials


def _lambda_backend(account_id: str, region: str) -> Any:
    """moto picks lambda_simple_backends when ``use_docker`` is off (our setting): ask it."""
    from moto.awslambda.utils import get_backend

    return get_backend(account_id, region)


class MotoFunctionDirectory:
    """The control plane's view of moto's Lambda functions, versions and aliases.

    Relies on ``moto.awslambda.models.lambda_backends[account][region]._lambdas`` (a LambdaStorage:
    ``_functions[name] = {"latest": LambdaFunction, "versions": [...]}``, ``_aliases[arn]``).
    """

    def __init__(self, account_id: str = ACCOUNT_ID, *, endpoint_url: str | None = None) -> None:
        self.account_id = account_id
        # Where a function's AWS SDK calls go: the local cloud's URL, set once its port is known.
        # None (no server): functions get no endpoint and dummy credentials.
        self.endpoint_url = endpoint_url
        self._credentials = RoleCredentials(account_id)

    def _storage(self, region: str) -> Any:
        return _lambda_backend(self.account_id, region)._lambdas

    def _spec(self, fn: Any, version: str) -> FunctionSpec:
        code: bytes = getattr(fn, "code_bytes", b"") or b""
        env = {str(k): str(v) for k, v in (fn.environment_vars or {}).items()}
        arn = f"arn:aws:lambda:{fn.region}:{fn.account_id}:function:{fn.function_name}"
        return FunctionSpec(
            function_name=fn.function_name,
            function_arn=arn,
            version=version,
            handler=fn.handler or "",
            runtime=fn.run_time or "",
            memory_mb=int(fn.memory_size),
            timeout_seconds=int(fn.timeout),
            environment=env,
            code_sha256=getattr(fn, "code_sha_256", "") or hashlib.sha256(code).hexdigest(),
            code_zip=code,
            tracing_active=(fn.tracing_config or {}).get("Mode") == "Active",
            region=fn.region,
            account_id=fn.account_id,
            service_environment=self._service_environment(fn, env),
            snap_start=version != "$LATEST" and snap_start_of(fn) == PUBLISHED_VERSIONS,
        )

    def _service_environment(self, fn: Any, own: dict[str, str]) -> dict[str, str]:
        """As Lambda: the execution role's session (AssumeRole through moto's STS); and the local
        cloud's endpoint, so boto3 and the AWS CLI in a handler reach its services unchanged
        (unless the function sets its own AWS_ENDPOINT_URL)."""
        if self.endpoint_url is None:
            return {}
        found = {} if "AWS_ENDPOINT_URL" in own else {"AWS_ENDPOINT_URL": self.endpoint_url}
        if fn.role:
            found.update(self._credentials.environment(fn.role, fn.function_name, fn.region))
        return found

    def latest(self, region: str, name: str) -> FunctionSpec | None:
        group = self._storage(region)._functions.get(name)
        if not group or group.get("latest") is None:
            return None
        return self._spec(group["latest"], "$LATEST")

    def version(self, region: str, name: str, version: str) -> FunctionSpec | None:
        group = self._storage(region)._functions.get(name)
        if not group:
            return None
        for fn in group["versions"]:
            if str(fn.version) == version:
                return self._spec(fn, version)
        return None

    def aliases(self, region: str, name: str) -> dict[str, str]:
        storage = self._storage(region)
        if name not in storage._functions:
            return {}
        arn = f"arn:aws:lambda:{region}:{self.account_id}:function:{name}"
        return {
            alias: str(a.function_version) for alias, a in storage._aliases.get(arn, {}).items()
        }

    def function_names(self, region: str) -> list[str]:
        return list(self._storage(region)._functions)

    def mirror_reserved(self, region: str, name: str, reserved: int | None) -> None:
        group = self._storage(region)._functions.get(name)
        if group and group.get("latest") is not None:
            group["latest"].reserved_concurrency = reserved


def _install_lambda() -> None:
    """Patch moto's Lambda backend so the control plane hears of deletions and alias moves."""
    from moto.awslambda.models import LambdaBackend

    original_delete_function = LambdaBackend.delete_function

    def delete_function(self: Any, function_name: str, qualifier: str | None = None) -> None:
        original_delete_function(self, function_name, qualifier)
        region, name, qualifier = _control().split_name(self.region_name, function_name, qualifier)
        _control().function_deleted(region, name, qualifier)

    _patch(LambdaBackend, "delete_function", delete_function)

    original_delete_alias = LambdaBackend.delete_alias

    def delete_alias(self: Any, name: str, function_name: str) -> None:
        original_delete_alias(self, name, function_name)
        _, fn_name, _ = _control().split_name(self.region_name, function_name, None)
        _control().alias_deleted(self.region_name, fn_name, name)

    _patch(LambdaBackend, "delete_alias", delete_alias)

    original_update_alias = LambdaBackend.update_alias

    def update_alias(self: Any, name: str, function_name: str, *args: Any, **kwargs: Any) -> Any:
        alias = original_update_alias(self, name, function_name, *args, **kwargs)
        _, fn_name, _ = _control().split_name(self.region_name, function_name, None)
        _control().alias_changed(self.region_name, fn_name, name)
        return alias

    _patch(LambdaBackend, "update_alias", update_alias)
    _install_alias_status_codes()
    install_snap_start()  # SnapStart's setting, version states and snapshots (lambda_snapstart)


# Lambda's success status per alias operation (API reference; botocore's ``http.responseCode``)
ALIAS_STATUS = {"delete_alias": 204, "get_alias": 200, "update_alias": 200}


def _install_alias_status_codes() -> None:
    """moto answers DeleteAlias, GetAlias and UpdateAlias 201: answer Lambda's codes instead."""
    from moto.awslambda.responses import LambdaResponse

    for method, status in ALIAS_STATUS.items():
        original = getattr(LambdaResponse, method)

        def answer(self: Any, _original: Any = original, _status: int = status) -> Any:
            _, headers, body = _original(self)
            # moto reads the status from the headers; a 204 carries no body
            return _status, {**headers, "status": _status}, "" if _status == 204 else body

        answer.__doc__ = f"moto's {method}, answered {status} as Lambda does."
        _patch(LambdaResponse, method, answer)
