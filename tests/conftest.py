"""Shared fixtures: a copy of the example workspace per test, and a CLI runner."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.build.pipeline import render_workspace
from newsletter.cli import main
from newsletter.model import Config, Rendered
from newsletter.workspace import Paths

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = Path(__file__).resolve().parent / "fixtures" / "example"
"""The tests' own copy of the example content: the practitioner's content/ never breaks a test."""
TEST_SECRET = "test-secret-not-for-production-use"


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C means Ctrl-C here, however the suite was started.

    A shell without job control starts a background command with SIGINT ignored, and its
    children inherit that: Python then installs no KeyboardInterrupt handler, so the tests
    that press Ctrl-C on `preview` and `send` would see it do nothing. A handled signal
    goes back to the default in a child, so the commands under test get the usual one.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the session, so tests neither read nor fill the user's own."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_env(
    monkeypatch: pytest.MonkeyPatch, _cache_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tests never see the developer's own settings, and sign tokens with a known secret.

    Each runs in an empty folder of its own: a command given no --root looks for a workspace
    in the current folder, and that must never be the repository's live content/.
    """
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    for name in list(__import__("os").environ):
        if name.startswith("NEWSLETTER_") and name != "NEWSLETTER_REQUIRE_BROWSER":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NEWSLETTER_SECRET", TEST_SECRET)
    monkeypatch.setenv("NEWSLETTER_CACHE_DIR", str(_cache_dir))


def copy_example(root: Path) -> Path:
    """Copy the tests' example content/ and the repository's templates/ into root."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    return root


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the example content/ and the templates/."""
    return copy_example(tmp_path / "ws")


@contextmanager
def running_preview(root: Path) -> Iterator[object]:
    """A preview of the workspace on a free loopback port, watching and serving."""
    from newsletter.preview.app import Preview
    from newsletter.workspace import Paths

    preview = Preview(Paths(root), port=0)
    preview.start()
    try:
        yield preview
    finally:
        preview.stop()


@pytest.fixture
def app(workspace: Path) -> Iterator[object]:
    """A preview of its own for the test, which may edit the workspace's files."""
    with running_preview(workspace) as preview:
        yield preview


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


@pytest.fixture
def paths(workspace: Path) -> Paths:
    """The example workspace's paths."""
    return Paths(workspace)


@pytest.fixture
def issue(paths: Paths) -> tuple[Config, Rendered]:
    """The example's December issue, rendered once for the test."""
    return render_workspace(paths, "2026-12")
