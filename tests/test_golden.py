"""Golden files: a reviewer sees every rendering change as a diff. `make golden` regenerates."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NEWSLETTER_UPDATE_GOLDEN") == "1"


def normalise(name: str, data: str) -> str:
    if name == "message.eml":
        data = re.sub(r"^Date: .*$", "Date: <normalised>", data, flags=re.MULTILINE)
    return data


@pytest.mark.parametrize("name", ["email.html", "email.txt", "message.eml", "index.html"])
def test_example_issue_matches_golden(cli, workspace: Path, name: str) -> None:
    assert cli("build").exit_code == 0
    produced = (workspace / "dist" / "issues" / "2026-12" / name).read_bytes().decode("utf-8")
    produced = normalise(name, produced)
    golden = GOLDEN / name
    if UPDATE:
        golden.write_bytes(produced.encode("utf-8"))
    assert golden.exists(), f"{golden} missing: run `make golden`"
    expected = golden.read_bytes().decode("utf-8")
    assert produced == expected, (
        f"{name} differs from tests/golden/{name}; if intended, run `make golden`"
    )
