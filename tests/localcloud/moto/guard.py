"""The checks every guard module of tests/localcloud/moto/ runs over its own tables.

Each ``test_<module>.py`` here names, for the module of ``pclab/localcloud/moto/`` it guards,
every moto attribute that module *replaces* (``PATCHED_SIGNATURES``: the leading parameters moto's
original must still take) and every internal it only *reads* (``READ_INTERNALS``).
:func:`all_patched_signatures` gathers the first tables of all of them, so a new patch without a
row in some module's table fails ``test_patching.py``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from pclab.localcloud import moto as moto_ext

CFN_BACKEND = "moto.cloudformation.models.CloudFormationBackend"
LAMBDA_BACKEND = "moto.awslambda.models.LambdaBackend"
EVAL_UTILS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
INLINE_ITERATION = (
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration"
    ".inline_iteration_component"
)


def resolve(dotted: str) -> Any:
    module_name, _, rest = dotted.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in rest.split(".") if rest else []:
        target = getattr(target, part)
    return target


def owner(label: str) -> Any:
    """'moto.x.y.Class' or 'moto.x.y' (a module) -> the object."""
    try:
        return importlib.import_module(label)
    except ModuleNotFoundError:
        module, _, cls = label.rpartition(".")
        return getattr(importlib.import_module(module), cls)


def assert_patched_internal_keeps_its_shape(key: tuple[str, str], expected: list[str]) -> None:
    original = moto_ext.ORIGINALS[key]
    assert original.__module__.startswith("moto."), f"{key}: not moto's own function"
    assert getattr(owner(key[0]), key[1]) is not original  # our replacement is in place
    parameters = list(inspect.signature(original).parameters)
    assert parameters[: len(expected)] == expected, f"moto changed {key}: {parameters}"


def assert_read_internal_exists(module: str, attribute: str) -> None:
    assert resolve(f"{module}:{attribute}") is not None


def all_patched_signatures() -> dict[tuple[str, str], list[str]]:
    """Every guard module's PATCHED_SIGNATURES, merged (a row in two tables is an error)."""
    package = importlib.import_module(__package__ or "localcloud.moto")
    merged: dict[tuple[str, str], list[str]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("test_"):
            continue
        table = getattr(
            importlib.import_module(f"{package.__name__}.{info.name}"), "PATCHED_SIGNATURES", {}
        )
        duplicated = set(merged) & set(table)
        assert not duplicated, f"{info.name}: rows also in another guard module: {duplicated}"
        merged.update(table)
    return merged


def guard_tests(
    patched: dict[tuple[str, str], list[str]], read: list[tuple[str, str]]
) -> tuple[Any, Any]:
    """The two parametrized checks of a guard module over its own tables, to assign at its top
    level as ``test_patched_internal_keeps_its_shape, test_read_internal_exists``."""
    import pytest

    @pytest.mark.parametrize("key", sorted(patched), ids=lambda k: f"{k[0]}.{k[1]}")
    def patched_keeps_shape(cloud: Any, key: tuple[str, str]) -> None:
        assert_patched_internal_keeps_its_shape(key, patched[key])

    @pytest.mark.parametrize("module, attribute", read)
    def read_exists(module: str, attribute: str) -> None:
        assert_read_internal_exists(module, attribute)

    return patched_keeps_shape, read_exists
