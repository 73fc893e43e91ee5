"""Guards pclab/localcloud/moto/lambda_.py: moto's Lambda backend hooks and function records."""

from __future__ import annotations

import pytest

from localcloud.cloud_helpers import ACCOUNT, REGION, Cloud, make_function
from localcloud.moto.guard import (
    LAMBDA_BACKEND,
    assert_patched_internal_keeps_its_shape,
    assert_read_internal_exists,
)
from pclab.localcloud import moto as moto_ext

# (owner, attribute) -> leading parameters of moto's original
PATCHED_SIGNATURES: dict[tuple[str, str], list[str]] = {
    (LAMBDA_BACKEND, "delete_function"): ["self", "function_name", "qualifier"],
    (LAMBDA_BACKEND, "delete_alias"): ["self", "name", "function_name"],
    (LAMBDA_BACKEND, "update_alias"): ["self", "name", "function_name", "function_version"],
}

# (module, dotted attribute) read without replacing
READ_INTERNALS = [
    ("moto.awslambda.utils", "get_backend"),
]


@pytest.mark.parametrize("key", sorted(PATCHED_SIGNATURES), ids=lambda k: f"{k[0]}.{k[1]}")
def test_patched_internal_keeps_its_shape(cloud: Cloud, key: tuple[str, str]) -> None:
    assert_patched_internal_keeps_its_shape(key, PATCHED_SIGNATURES[key])


@pytest.mark.parametrize("module, attribute", READ_INTERNALS)
def test_read_internal_exists(module: str, attribute: str) -> None:
    assert_read_internal_exists(module, attribute)


def test_function_records_have_the_fields_we_read(cloud: Cloud) -> None:
    """LambdaStorage layout and LambdaFunction attributes behind MotoFunctionDirectory."""
    fn = make_function(cloud, tracing=True)
    directory = moto_ext.MotoFunctionDirectory(ACCOUNT)
    latest = directory.latest(REGION, fn.name)
    version = directory.version(REGION, fn.name, fn.version)
    assert latest is not None and version is not None
    assert (latest.version, version.version) == ("$LATEST", fn.version)
    assert latest.handler == "app.handler" and latest.runtime == "python3.11"
    assert latest.tracing_active and latest.code_zip.startswith(b"PK")
    assert len(latest.code_sha256) > 20
    assert directory.aliases(REGION, fn.name) == {"live": fn.version}
    assert fn.name in directory.function_names(REGION)
