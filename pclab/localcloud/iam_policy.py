"""Does an IAM identity policy let a role do one action on one resource? (pure; no moto)

The local cloud asks this of a state machine's role before its Lambda task invokes, so a missing
``lambda:InvokeFunction`` on the alias fails the task as on AWS instead of passing locally and
failing on the first real deploy. Only what identity policies decide is modelled, as IAM's
evaluation logic documents it ("Policy evaluation logic", IAM user guide): an explicit Deny wins,
else an Allow is needed, else the request is implicitly denied. Action and Resource match with
IAM's wildcards (``*`` any run, ``?`` one character; actions case-insensitively), and
NotAction / NotResource invert the match. Conditions, permissions boundaries, SCPs and resource
policies are not evaluated: a statement with a Condition is taken to apply.

The denial text is the one AWS returns through a Step Functions Lambda task (error
``Lambda.AWSLambdaException``), e.g. awslabs/aws-deployment-framework#460:
"User: arn:aws:sts::<account>:assumed-role/<role>/<session> is not authorized to perform:
lambda:InvokeFunction on resource: <arn> because no identity-based policy allows the
lambda:InvokeFunction action (Service: AWSLambda; Status Code: 403; Error Code:
AccessDeniedException; Request ID: <id>; Proxy: null)".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

Decision = Literal["allow", "explicit-deny", "implicit-deny"]


@lru_cache(maxsize=1024)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.IGNORECASE if ignore_case else 0)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _matches(statement: dict[str, Any], key: str, value: str, *, ignore_case: bool) -> bool:
    if key in statement:
        return any(_pattern(p, ignore_case).match(value) for p in _as_list(statement[key]))
    negated = f"Not{key}"
    if negated in statement:
        return not any(_pattern(p, ignore_case).match(value) for p in _as_list(statement[negated]))
    return False


def _statements(document: str | dict[str, Any]) -> list[dict[str, Any]]:
    doc = json.loads(document) if isinstance(document, str) else document
    found = doc.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def evaluate(documents: Iterable[str | dict[str, Any]], action: str, resource: str) -> Decision:
    """IAM's decision for ``action`` on ``resource`` under these identity policy documents."""
    allowed = False
    for document in documents:
        for statement in _statements(document):
            if not (
                _matches(statement, "Action", action, ignore_case=True)
                and _matches(statement, "Resource", resource, ignore_case=False)
            ):
                continue
            if statement.get("Effect") == "Deny":
                return "explicit-deny"
            if statement.get("Effect") == "Allow":
                allowed = True
    return "allow" if allowed else "implicit-deny"


def denial_message(
    decision: Decision, *, role_arn: str, session: str, action: str, resource: str
) -> str:
    """The AccessDeniedException's message AWS gives an assumed role, with AWS's reason."""
    account = role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[-1]
    reason = (
        "with an explicit deny in an identity-based policy"
        if decision == "explicit-deny"
        else f"because no identity-based policy allows the {action} action"
    )
    return (
        f"User: arn:aws:sts::{account}:assumed-role/{role_name}/{session} is not authorized to "
        f"perform: {action} on resource: {resource} {reason}"
    )


def denial_cause(
    decision: Decision, *, role_arn: str, session: str, action: str, resource: str, request_id: str
) -> str:
    """The cause a Step Functions task shows: the message and the AWS SDK's details of the call."""
    service, _, _ = action.partition(":")
    message = denial_message(
        decision, role_arn=role_arn, session=session, action=action, resource=resource
    )
    return (
        f"{message} (Service: AWS{'Lambda' if service == 'lambda' else service}; Status Code: 403;"
        f" Error Code: AccessDeniedException; Request ID: {request_id}; Proxy: null)"
    )
