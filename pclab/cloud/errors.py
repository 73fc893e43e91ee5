"""One exception type for everything the runner cannot do, worded as one line with the fix.

WHY one type: the CLI turns it into ``pclab: error: <line>`` and a non-zero exit, and the runner
never has to know how the CLI prints. botocore's many exception types are translated here, once.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

NO_CREDENTIALS = (
    "no AWS credentials found: configure them (aws configure, AWS_PROFILE, or "
    "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); for the local cloud use "
    "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
)
NO_REGION = "no AWS region configured: pass --region (e.g. --region us-east-1) or set AWS_REGION"


class RunnerError(Exception):
    """A problem the user can fix; ``str()`` is one line naming it and the fix."""


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError ("" when the reply had none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    message = str(error.response.get("Error", {}).get("Message", "")) or str(error)
    return " ".join(message.split())  # AWS messages sometimes carry newlines: keep one line


def describe_aws_error(error: Exception, doing: str) -> str:
    """One line for an AWS call that failed: what we were doing, the code, the message."""
    if isinstance(error, (NoCredentialsError, PartialCredentialsError)):
        return NO_CREDENTIALS
    if isinstance(error, NoRegionError):
        return NO_REGION
    if isinstance(error, EndpointConnectionError):
        return (
            f"cannot reach the AWS endpoint while {doing} ({error.kwargs.get('endpoint_url')}): "
            "check --endpoint-url / AWS_ENDPOINT_URL, or start the local cloud with "
            "`pclab local-cloud start`"
        )
    if isinstance(error, ClientError):
        code = error_code(error)
        if code in (
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
            "ExpiredTokenException",
            "RequestExpired",
        ):
            return f"AWS rejected the credentials while {doing} ({code}): refresh them"
        if code in ("AccessDenied", "AccessDeniedException"):
            return f"access denied while {doing}: {error_message(error)}"
        return f"{doing} failed: {code}: {error_message(error)}"
    if isinstance(error, BotoCoreError):
        return f"{doing} failed: {' '.join(str(error).split())}"
    return f"{doing} failed: {type(error).__name__}: {' '.join(str(error).split())}"


def as_runner_error(error: Exception, doing: str) -> RunnerError:
    return RunnerError(describe_aws_error(error, doing))
