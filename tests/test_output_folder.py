"""`build` owns only what it writes, and a kill at any moment leaves the old or the new issue."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TEST_SECRET

ISSUE = "content/issues/2026-12.md"
FILES = ["email.html", "email.txt", "index.html", "message.eml"]
KILLS = 8


def test_a_folder_with_files_build_did_not_write_is_refused(cli, workspace, tmp_path) -> None:
    """The issue's example: `build --out site` would have replaced site/index.html and deleted
    site/issues/2026-12/notes.txt. Both are named; nothing in site/ changes."""
    site = tmp_path / "site"
    (site / "issues" / "2026-12").mkdir(parents=True)
    (site / "index.html").write_text("my home page")
    (site / "issues" / "2026-12" / "notes.txt").write_text("my notes")
    result = cli("build", "--out", str(site))
    assert result.exit_code == 1
    message = (
        "not written by `newsletter build`, which would replace or delete it: move it out of "
        "the folder, or build into another one with --out"
    )
    assert result.stderr == (
        f"{site}/index.html: {message}\n{site}/issues/2026-12/notes.txt: {message}\n"
        "Found 2 errors.\n"
    )
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*")) == [
        "index.html",
        "issues",
        "issues/2026-12",
        "issues/2026-12/notes.txt",
    ]
    assert (site / "index.html").read_text() == "my home page"


def test_a_file_added_to_a_built_issue_is_never_deleted(cli, workspace) -> None:
    assert cli("build").exit_code == 0
    notes = workspace / "dist" / "issues" / "2026-12" / "notes.txt"
    notes.write_text("mine")
    result = cli("build")
    assert result.exit_code == 1
    assert result.stderr.startswith("dist/issues/2026-12/notes.txt: not written by")
    assert notes.read_text() == "mine"


def test_files_build_does_not_touch_are_left_alone(cli, workspace, tmp_path) -> None:
    """Other pages and other issues' folders in the output folder stay as they are."""
    site = tmp_path / "site"
    (site / "issues" / "2025-01").mkdir(parents=True)
    (site / "about.html").write_text("about")
    (site / "issues" / "2025-01" / "old.html").write_text("old")
    result = cli("build", "--out", str(site))
    assert result.exit_code == 0, result.output
    assert (site / "about.html").read_text() == "about"
    assert (site / "issues" / "2025-01" / "old.html").read_text() == "old"
    manifest = json.loads((site / ".newsletter-build.json").read_text())
    assert manifest["files"] == [
        "feed.xml",
        "index.html",
        *(f"issues/2026-12/{name}" for name in FILES),
    ]


def test_a_dist_built_before_the_manifest_existed_is_adopted(cli, workspace) -> None:
    """dist/ made by an earlier version has no manifest: its files are taken as build's."""
    assert cli("build").exit_code == 0
    (workspace / "dist" / ".newsletter-build.json").unlink()
    assert cli("build").exit_code == 0


def build_process(root: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NEWSLETTER_SECRET": TEST_SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "--root", str(root), "build"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def complete(folder: Path) -> str:
    """Which subject the folder's email carries; it must be whole."""
    assert sorted(p.name for p in folder.iterdir()) == FILES
    html = (folder / "email.html").read_text()
    assert html.rstrip().endswith("</html>")
    return "Second" if "Second subject" in html else "First"


@pytest.mark.slow
def test_a_kill_at_any_moment_leaves_the_old_or_the_new_issue(workspace: Path) -> None:
    """Builds killed with SIGKILL at random moments while a reader watches the folder: the
    reader never finds it missing, it is always complete, and the next build cleans up."""
    issue = workspace / ISSUE
    text = issue.read_text()
    subjects = ["First subject for the test", "Second subject for the test"]
    issue.write_text(text.replace("subject: ", f"subject: {subjects[0]} ", 1))
    started = time.monotonic()
    assert build_process(workspace).wait() == 0
    took = time.monotonic() - started  # kills land from mid-import to just after the swap
    folder = workspace / "dist" / "issues" / "2026-12"
    missing: list[float] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            if not (folder / "email.html").is_file():
                missing.append(time.monotonic())

    reader = threading.Thread(target=read)
    reader.start()
    rng = random.Random(11)
    try:
        for n in range(KILLS):
            issue.write_text(text.replace("subject: ", f"subject: {subjects[n % 2]} ", 1))
            process = build_process(workspace)
            time.sleep(rng.uniform(0.5 * took, 1.15 * took))
            process.send_signal(signal.SIGKILL)
            process.wait()
            assert complete(folder) in ("First", "Second")
    finally:
        stop.set()
        reader.join()
    assert missing == []
    assert build_process(workspace).wait() == 0
    assert complete(folder) == ("Second" if (KILLS - 1) % 2 else "First")
    leftovers = [p.name for p in (workspace / "dist").rglob(".newsletter-*")]
    assert sorted(leftovers) == [".newsletter-build.json", ".newsletter-build.lock"]


def test_a_broken_archive_template_changes_nothing(cli, workspace) -> None:
    """The archive page is rendered before any folder is swapped: its template error is a
    path:line problem and the previous build stays whole."""
    assert cli("build").exit_code == 0
    email = workspace / "dist" / "issues" / "2026-12" / "email.html"
    before = email.read_bytes()
    (workspace / ISSUE).write_text(
        (workspace / ISSUE).read_text().replace("subject: ", "subject: New ")
    )
    archive = workspace / "templates" / "archive.html"
    archive.write_text(archive.read_text() + "\n{{ issues.nothing.here }}\n")
    result = cli("build")
    assert result.exit_code == 1
    assert result.stderr.startswith("templates/archive.html:")
    assert email.read_bytes() == before


@pytest.mark.parametrize("out", [".", "content", "content/images", "templates", "data"])
def test_output_never_goes_into_the_workspace_itself(cli, workspace, out: str) -> None:
    result = cli("build", "--out", str(workspace / out))
    assert result.exit_code == 1
    shown = "." if out == "." else out
    assert result.stderr == (
        f"--out: {shown} is part of the workspace: build into dist/ (the default) or a folder "
        "outside content/, templates/ and data/\nFound 1 error.\n"
    )
