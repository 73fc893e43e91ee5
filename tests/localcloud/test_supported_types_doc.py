"""docs/local-cloud.md lists exactly the resource types the local cloud creates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "local-cloud.md"


def test_the_documented_types_are_the_codes() -> None:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("<!-- supported-types:")
    block = text[text.index("\n", start) : text.index("<!-- end of supported-types -->")]
    command = [sys.executable, "-m", "pclab.cli", "local-cloud", "supported-types", "--markdown"]
    generated = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    assert block.strip() == generated.strip(), "regenerate the list: " + " ".join(command[1:])
    listed = re.findall(r"`(AWS::[^`]+)`", block)
    assert {"AWS::Lambda::Alias", "AWS::StepFunctions::StateMachine"} <= set(listed)
    assert "AWS::AppSync::GraphQLApi" not in listed
