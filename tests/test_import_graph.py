"""The parts of ``pclab`` import each other only along the arrows DESIGN.md draws.

Every module under pclab/ is parsed (ast, so imports inside functions and under TYPE_CHECKING
count too, and nothing is executed) and each ``pclab.*`` import is checked against the table
below. WHY a test: the arrows are what keeps the analysis pure, the runner honest (it reaches the
local cloud over HTTP like AWS, never by import) and the report a renderer of the model only; a
convenient import inside a function is exactly how they erode unnoticed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pclab"

# part -> the parts it may import (itself included). None: the composition root, anything.
ALLOWED: dict[str, frozenset[str] | None] = {
    "cloud": frozenset({"cloud", "analysis"}),
    "analysis": frozenset({"analysis", "lambda_model"}),
    "report": frozenset({"report", "analysis"}),
    "localcloud": frozenset({"localcloud", "lambda_model"}),
    "plan": frozenset({"plan", "analysis", "lambda_model"}),
    "lambda_model": frozenset({"lambda_model"}),
    "cli": None,
    "compose": None,
    "__init__": frozenset(),  # the package root (its version): imports no part
}
# Where the third-party moto may be imported: the local cloud's moto extensions only, the
# package pclab/localcloud/moto/ (a module per AWS service behind one install()).
MOTO_HOMES = ("localcloud/moto/",)


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            # `from pclab import report` imports the part `report`: name each imported name too
            yield node.lineno, stem
            for alias in node.names:
                yield node.lineno, f"{stem}.{alias.name}"


def target_part(name: str) -> str | None:
    """The pclab part an imported module belongs to, or None for a third-party module."""
    parts = name.split(".")
    if parts[0] != "pclab":
        return None
    if len(parts) == 1:
        return "__init__"
    candidate = parts[1]
    if (PACKAGE / candidate).is_dir() or (PACKAGE / f"{candidate}.py").is_file():
        return candidate
    return "__init__"  # a name defined in pclab/__init__.py (e.g. __version__)


def test_every_module_is_in_a_known_part() -> None:
    unknown = sorted({part_of(p) for p in modules()} - set(ALLOWED))
    assert not unknown, f"new part(s) {unknown}: add their allowed imports to ALLOWED"


def arrow_violations() -> list[str]:
    """One line per import of a part by a part that may not import it."""
    wrong: list[str] = []
    for path in modules():
        source = part_of(path)
        allowed = ALLOWED.get(source)
        if allowed is None:
            continue
        for line, name in imported_modules(path):
            target = target_part(name)
            if target is not None and target not in allowed:
                where = path.relative_to(PACKAGE.parent)
                wrong.append(f"{where}:{line} imports {name} ({source} -> {target})")
    return sorted(set(wrong))


def moto_importers() -> list[str]:
    importers: list[str] = []
    for path in modules():
        relative = path.relative_to(PACKAGE).as_posix()
        if any(relative == home or relative.startswith(home) for home in MOTO_HOMES):
            continue
        for line, name in imported_modules(path):
            if name == "moto" or name.startswith("moto."):
                importers.append(f"pclab/{relative}:{line} imports {name}")
    return importers


def test_parts_import_only_along_the_allowed_arrows() -> None:
    wrong = arrow_violations()
    assert not wrong, "imports against DESIGN.md's arrows:\n" + "\n".join(wrong)


def test_only_the_moto_extensions_import_moto() -> None:
    importers = moto_importers()
    assert not importers, "moto imported outside the moto extensions:\n" + "\n".join(importers)


def test_the_checks_see_imports_inside_functions_and_relative_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks above can fail: a fake package with one bad import of each kind is caught."""
    fake = tmp_path / "pclab"
    for part in ("cloud", "analysis", "report", "localcloud/moto"):
        (fake / part).mkdir(parents=True)
        (fake / part / "__init__.py").write_text("")
    (fake / "cloud" / "run.py").write_text(
        "def render():\n    from pclab.report import write_report\n"
    )
    (fake / "analysis" / "join.py").write_text("from ..cloud import aws\nfrom . import model\n")
    (fake / "report" / "table.py").write_text("import moto.core\n")
    (fake / "localcloud" / "moto" / "xray.py").write_text("from moto.xray import models\n")
    monkeypatch.setattr(f"{__name__}.PACKAGE", fake)
    assert arrow_violations() == [
        "pclab/analysis/join.py:1 imports pclab.cloud (analysis -> cloud)",
        "pclab/analysis/join.py:1 imports pclab.cloud.aws (analysis -> cloud)",
        "pclab/cloud/run.py:2 imports pclab.report (cloud -> report)",
        "pclab/cloud/run.py:2 imports pclab.report.write_report (cloud -> report)",
    ]
    assert moto_importers() == ["pclab/report/table.py:1 imports moto.core"]
