"""IAM's identity-policy decision, as the local cloud applies it to a state machine's role."""

from __future__ import annotations

import json

from pclab.localcloud.iam_policy import denial_cause, evaluate

ALIAS = "arn:aws:lambda:us-east-1:123456789012:function:pclab-Fn-1A:live"


def policy(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def test_sam_lambda_invoke_policy_on_the_alias_allows_only_that_alias() -> None:
    # What SAM's LambdaInvokePolicy template makes: the function ARN and ARN:* (any qualifier).
    sam = policy(
        {
            "Effect": "Allow",
            "Action": ["lambda:InvokeFunction"],
            "Resource": [ALIAS.rsplit(":", 1)[0], ALIAS.rsplit(":", 1)[0] + ":*"],
        }
    )
    assert evaluate([sam], "lambda:InvokeFunction", ALIAS) == "allow"
    assert evaluate([sam], "lambda:invokefunction", ALIAS) == "allow"  # actions ignore case
    other = ALIAS.replace("pclab-Fn-1A", "pclab-Other-2B")
    assert evaluate([sam], "lambda:InvokeFunction", other) == "implicit-deny"
    assert evaluate([sam], "lambda:GetFunction", ALIAS) == "implicit-deny"


def test_an_explicit_deny_wins_and_wildcards_match_as_in_iam() -> None:
    allow_all = policy({"Effect": "Allow", "Action": "lambda:*", "Resource": "*"})
    deny_live = {"Effect": "Deny", "Action": "lambda:Invoke*", "Resource": "arn:aws:lambda:*:live"}
    assert evaluate([allow_all], "lambda:InvokeFunction", ALIAS) == "allow"
    assert evaluate([allow_all, policy(deny_live)], "lambda:InvokeFunction", ALIAS) == (
        "explicit-deny"
    )
    single = policy(
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": ALIAS[:-1] + "?"}
    )
    assert evaluate([single], "lambda:InvokeFunction", ALIAS) == "allow"
    not_action = policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})
    assert evaluate([not_action], "lambda:InvokeFunction", ALIAS) == "allow"
    assert evaluate([], "lambda:InvokeFunction", ALIAS) == "implicit-deny"


def test_the_denial_reads_as_aws_writes_it() -> None:
    cause = denial_cause(
        "implicit-deny",
        role_arn="arn:aws:iam::123456789012:role/pclab-SmRole-XYZ",
        session="abc",
        action="lambda:InvokeFunction",
        resource=ALIAS,
        request_id="r-1",
    )
    assert cause == (
        "User: arn:aws:sts::123456789012:assumed-role/pclab-SmRole-XYZ/abc is not authorized to "
        f"perform: lambda:InvokeFunction on resource: {ALIAS} because no identity-based policy "
        "allows the lambda:InvokeFunction action (Service: AWSLambda; Status Code: 403; Error "
        "Code: AccessDeniedException; Request ID: r-1; Proxy: null)"
    )
