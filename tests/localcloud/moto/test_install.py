"""Guards pclab/localcloud/moto/__init__.py: configure_moto's settings and what it reads."""

from __future__ import annotations

import pytest

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud
from localcloud.moto.guard import assert_read_internal_exists
from pclab.localcloud.moto import stepfunctions

READ_INTERNALS = [
    ("moto.core.config", "default_user_config"),
]


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)


def test_moto_is_configured_to_execute_state_machines(cloud: Cloud) -> None:
    from moto.core.config import default_user_config
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert default_user_config["stepfunctions"] == {"execute_state_machine": True}
    assert isinstance(stepfunctions._sfn_backend(ACCOUNT, REGION), StepFunctionsParserBackend)
