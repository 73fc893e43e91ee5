"""STS: the execution role's credentials each Lambda execution environment is given.

On Lambda, the runtime's environment carries ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
``AWS_SESSION_TOKEN`` of a session of the function's execution role (Lambda assumes it, the
session named after the function). :class:`RoleCredentials` does the same through moto's STS, so a
handler's boto3 signs as the role, and what it does is recorded against the role's session as on
AWS (moto enforces no IAM; see docs/local-cloud.md).

moto internals read, and why: ``moto.sts.models.sts_backends[account]["aws"].assume_role``
(moto's AssumeRole, in-process: the environments start without an HTTP round trip) and the
``AssumedRole`` fields ``access_key_id``, ``secret_access_key``, ``session_token``,
``expiration``. Nothing is patched here. Imports: moto only inside functions (start-up cost).
"""

from __future__ import annotations

import datetime
import threading
from typing import Any

from pclab.localcloud.moto._patching import ACCOUNT_ID

# Lambda's sessions outlive an environment (up to 12 hours); moto checks no expiry anyway.
SESSION_SECONDS = 12 * 3600
# A session with less than this left is renewed before it is handed to a new environment.
RENEW_BEFORE = datetime.timedelta(hours=1)


class RoleCredentials:
    """Sessions of execution roles, one per (role, function), renewed before they expire."""

    def __init__(self, account_id: str = ACCOUNT_ID) -> None:
        self.account_id = account_id
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], Any] = {}

    def environment(self, role_arn: str, function_name: str, region: str) -> dict[str, str]:
        """The credential variables of a new environment of ``function_name``."""
        session = self._session(role_arn, function_name, region)
        return {
            "AWS_ACCESS_KEY_ID": session.access_key_id,
            "AWS_SECRET_ACCESS_KEY": session.secret_access_key,
            "AWS_SESSION_TOKEN": session.session_token,
        }

    def _session(self, role_arn: str, function_name: str, region: str) -> Any:
        from moto.core.utils import utcnow
        from moto.sts.models import sts_backends

        key = (role_arn, function_name)
        with self._lock:
            session = self._sessions.get(key)
            if session is None or session.expiration - utcnow() < RENEW_BEFORE:
                session = sts_backends[self.account_id]["aws"].assume_role(
                    region_name=region,
                    role_session_name=function_name[:64],
                    role_arn=role_arn,
                    policy="",
                    duration=SESSION_SECONDS,
                    external_id="",
                )
                self._sessions[key] = session
            return session
