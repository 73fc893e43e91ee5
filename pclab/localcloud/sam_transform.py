"""The ``AWS::Serverless-2016-10-31`` transform, applied offline with aws-sam-translator.

CloudFormation runs this transform server-side; moto does not (it warns and creates nothing). The
translator is the same code AWS's transform is built from. Its only online step is asking IAM for
the ARNs of AWS managed policies (``AWSLambdaBasicExecutionRole``, ...): we answer from the map the
translator itself bundles, so a deploy needs no network.
"""

from __future__ import annotations

import copy
from typing import Any

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


class SamTransformError(Exception):
    """The template is not a valid SAM document; the message is what CloudFormation reports."""


def has_sam_transform(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    names = transform if isinstance(transform, list) else [transform]
    return SAM_TRANSFORM in names


def _managed_policy_loader() -> Any:
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader

    class BundledPolicyLoader(ManagedPolicyLoader):  # type: ignore[misc]
        """Answers from the translator's bundled map instead of calling IAM ListPolicies."""

        def __init__(self) -> None:
            super().__init__(iam_client=None)
            self._policy_map = dict(get_bundled_managed_policy_map("aws") or {})

    return BundledPolicyLoader()


def default_parameter_values(template: dict[str, Any]) -> dict[str, Any]:
    return {
        name: spec["Default"]
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }


def apply_sam_transform(
    template: dict[str, Any],
    parameter_values: dict[str, Any] | None = None,
    *,
    region: str = "us-east-1",
    account_id: str = "123456789012",
) -> dict[str, Any]:
    """Return the plain CloudFormation template a SAM template expands to.

    A template without the SAM transform is returned unchanged. Raises SamTransformError with the
    wording CloudFormation uses ("Transform AWS::Serverless-2016-10-31 failed with: ...").
    """
    if not has_sam_transform(template):
        return template
    import boto3
    from samtranslator.model.exceptions import InvalidDocumentException, InvalidTemplateException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import (
        to_py27_compatible_template,
        undo_mark_unicode_str_in_template,
    )

    values = default_parameter_values(template)
    values.update(parameter_values or {})
    # Pseudo parameters come from the stack, not from this machine's AWS configuration.
    values.update({"AWS::Region": region, "AWS::AccountId": account_id, "AWS::Partition": "aws"})
    document = copy.deepcopy(template)
    loader = _managed_policy_loader()
    try:
        # What samtranslator.translator.transform.transform does, with our region's session
        # (the stock function makes a boto3 session from the environment and fails without one).
        to_py27_compatible_template(document, values)
        translator = Translator(
            None, Parser(), boto_session=boto3.session.Session(region_name=region)
        )
        translated = translator.translate(
            document, parameter_values=values, get_managed_policy_map=loader.load
        )
        result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    except InvalidDocumentException as error:
        causes = " ".join(getattr(c, "message", str(c)) for c in error.causes) or str(error)
        raise SamTransformError(
            f"Transform {SAM_TRANSFORM} failed with: Invalid Serverless Application Specification "
            f"document. Number of errors found: {len(error.causes)}. {causes}"
        ) from None
    except InvalidTemplateException as error:
        raise SamTransformError(f"Transform {SAM_TRANSFORM} failed with: {error}") from None
    result.pop("Transform", None)
    return result
