"""Shared fixtures: a copy of the example workspace per test, and a CLI runner."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import main

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET = "test-secret-not-for-production"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's own settings, and sign tokens with a known secret."""
    for name in list(__import__("os").environ):
        if name.startswith("NEWSLETTER_") and name != "NEWSLETTER_REQUIRE_BROWSER":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSLETTER_SECRET", TEST_SECRET)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the repository's example content/ and templates/."""
    root = tmp_path / "ws"
    root.mkdir()
    shutil.copytree(REPO / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return root


def write_files(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Overwrite or add files in a workspace; bytes are written as-is."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")


@pytest.fixture
def write(workspace: Path) -> Callable[[Mapping[str, str | bytes]], None]:
    return lambda files: write_files(workspace, files)


@pytest.fixture
def cli(workspace: Path) -> Callable[..., object]:
    """Run the CLI against the workspace: cli("build") -> click Result (stderr separate)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> object:
        return runner.invoke(
            main, ["--root", str(workspace), *args], input=input, catch_exceptions=False
        )

    return run
