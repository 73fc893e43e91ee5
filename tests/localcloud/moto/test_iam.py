"""Guards pclab/localcloud/moto/iam.py: the role's policies as moto holds them, and a stack's role
getting its ManagedPolicyArns."""

from __future__ import annotations

import json
import time
import uuid

from localcloud.cloud_helpers import ACCOUNT, Cloud
from localcloud.moto.guard import guard_tests
from pclab.localcloud.moto import iam

ROLE = "moto.iam.models.Role"
CFN_ARGS = ["resource_name", "cloudformation_json", "account_id", "region_name"]

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (ROLE, "create_from_cloudformation_json"): CFN_ARGS,
    (ROLE, "delete_from_cloudformation_json"): CFN_ARGS,
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.iam.models", "iam_backends"),
    ("moto.iam.models", "Role.arn"),
    ("moto.iam.models", "ManagedPolicy.attach_to"),
    ("moto.iam.models", "ManagedPolicy.detach_from"),
    ("moto.iam.models", "PolicyVersion.is_default_version"),
    ("moto.iam.models", "AWSManagedPolicy.from_data"),
    ("moto.iam.aws_managed_policies", "aws_managed_policies_data"),
    ("moto.utilities.utils", "get_partition"),
]

LAMBDA_ROLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaRole"


test_patched_internal_keeps_its_shape, test_read_internal_exists = guard_tests(
    PATCHED_SIGNATURES, READ_INTERNALS
)


def test_api_role_policies_are_read_inline_and_managed(cloud: Cloud) -> None:
    """Role.policies holds API documents as strings; a managed policy's default version counts."""
    client = cloud.client("iam")
    name = f"r-{uuid.uuid4().hex[:8]}"
    arn = client.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    target = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f:live"
    assert iam.invoke_decision(arn, target) == "implicit-deny"
    allow = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
    policy = client.create_policy(
        PolicyName=name, PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]})
    )["Policy"]["Arn"]
    client.attach_role_policy(RoleName=name, PolicyArn=policy)
    assert iam.invoke_decision(arn, target) == "allow"
    deny = {**allow, "Effect": "Deny", "Resource": target}
    client.put_role_policy(
        RoleName=name,
        PolicyName="deny",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [deny]}),
    )
    assert iam.invoke_decision(arn, target) == "explicit-deny"
    assert iam.invoke_decision(f"arn:aws:iam::{ACCOUNT}:role/nobody", target) is None


def test_a_stack_role_gets_its_managed_policies_and_is_deleted_with_them(cloud: Cloud) -> None:
    """moto drops ManagedPolicyArns; AWS managed ones come from moto's bundled copy."""
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                    "ManagedPolicyArns": [LAMBDA_ROLE_POLICY],
                },
            }
        },
        "Outputs": {"Arn": {"Value": {"Fn::GetAtt": ["Role", "Arn"]}}},
    }
    cfn = cloud.client("cloudformation")
    stack = f"iam-{uuid.uuid4().hex[:8]}"
    cfn.create_stack(StackName=stack, TemplateBody=json.dumps(template))
    described = _settled(cfn, stack)
    assert described["StackStatus"] == "CREATE_COMPLETE", described
    role_arn = described["Outputs"][0]["OutputValue"]
    role_name = role_arn.rsplit("/", 1)[-1]
    attached = cloud.client("iam").list_attached_role_policies(RoleName=role_name)
    assert [p["PolicyArn"] for p in attached["AttachedPolicies"]] == [LAMBDA_ROLE_POLICY]
    assert iam.invoke_decision(role_arn, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x") == (
        "allow"
    )
    cfn.delete_stack(StackName=stack)  # moto's DeleteRole refuses a role with policies attached
    deadline = time.monotonic() + 20
    while iam.find_role(role_arn) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert iam.find_role(role_arn) is None


def _settled(cfn: object, stack: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]  # type: ignore[attr-defined]
        if not str(found["StackStatus"]).endswith("IN_PROGRESS") or time.monotonic() > deadline:
            return dict(found)
        time.sleep(0.1)
