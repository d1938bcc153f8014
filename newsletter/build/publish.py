"""Copy the built web pages to where base_url serves them: images, then pages, then archive.

The order matters: the email points at base_url for its images and its "view in browser"
page, and a reader who opens a web version must find its images already there. Each file is
written under a temporary name and renamed into place, so nobody reads half a file. A remote
target (`user@host:path`) is reached with rsync over SSH, in the same three passes.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from newsletter.errors import NewsletterError

_REMOTE = re.compile(r"^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+:")

PASSES = ("images", "web versions", "archive and feed")


class Published(NamedTuple):
    """What one publish did; `copied` + `unchanged` is every file of the web pages."""

    copied: int
    unchanged: int
    issues: tuple[str, ...]


def is_remote(target: str) -> bool:
    """`host:path` or `user@host:path` (rsync's syntax); anything with a / before : is local."""
    return bool(_REMOTE.match(target)) and "/" not in target.split(":", 1)[0]


def web_files(dist: Path) -> list[list[Path]]:
    """The files to publish, relative to dist/, in the three passes of PASSES.

    Only what a browser opens: the issues' web versions and images, the archive and the
    feed. email.html, email.txt and message.eml stay local (placeholders, a sample copy).
    """
    issues = sorted(p for p in (dist / "issues").glob("*") if (p / "index.html").is_file())
    if not issues:
        raise NewsletterError.single(
            str(dist), "nothing built to publish: run `newsletter build` first"
        )
    images = sorted(f for issue in issues for f in (issue / "images").rglob("*") if f.is_file())
    pages = [issue / "index.html" for issue in issues]
    archive = [dist / name for name in ("index.html", "feed.xml") if (dist / name).is_file()]
    return [[f.relative_to(dist) for f in group] for group in (images, pages, archive)]


def _copy_atomically(source: Path, target: Path) -> bool:
    """Copy unless identical; the new file appears whole or not at all. True when copied."""
    if target.is_file() and filecmp.cmp(source, target, shallow=False):
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        shutil.copy2(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return True


def publish_to_folder(dist: Path, folder: Path) -> Published:
    """Copy the web pages into a local folder (a web server's document root, a synced drive)."""
    passes = web_files(dist)
    copied = unchanged = 0
    try:
        for group in passes:
            for rel in group:
                if _copy_atomically(dist / rel, folder / rel):
                    copied += 1
                else:
                    unchanged += 1
    except OSError as exc:
        raise NewsletterError.single(
            str(folder), f"cannot publish here: {exc.strerror or exc}"
        ) from None
    return Published(copied, unchanged, _issues(passes[1]))


def _issues(pages: list[Path]) -> tuple[str, ...]:
    return tuple(p.parent.name for p in pages)


def rsync_commands(dist: Path, target: str) -> list[list[str]]:
    """One rsync per pass; --delay-updates renames each pass's files into place at its end."""
    base = ["rsync", "--recursive", "--times", "--delay-updates", "--prune-empty-dirs",
            "--chmod=D755,F644", "--include=*/"]  # fmt: skip
    rules = [
        ["--include=/issues/*/images/**"],
        ["--include=/issues/*/index.html"],
        ["--include=/index.html", "--include=/feed.xml"],
    ]
    source = f"{dist}/"
    destination = target if target.endswith("/") else f"{target}/"
    return [[*base, *rule, "--exclude=*", source, destination] for rule in rules]


Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def _run(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


def publish_with_rsync(dist: Path, target: str, *, run: Runner = _run) -> Published:
    """The three passes with rsync (over SSH for `user@host:path`); stops at the first failure."""
    passes = web_files(dist)
    if shutil.which("rsync") is None:
        raise NewsletterError.single(
            "rsync", "rsync is not installed: `sudo apt-get install rsync`, or publish to a folder"
        )
    for name, command in zip(PASSES, rsync_commands(dist, target), strict=True):
        done = run(command)
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip().splitlines()
            raise NewsletterError.single(
                target,
                f"rsync failed while publishing the {name} (exit {done.returncode}): "
                f"{reason[-1] if reason else 'no message'}; nothing after it was published",
            )
    return Published(sum(len(group) for group in passes), 0, _issues(passes[1]))


def publish(dist: Path, target: str) -> Published:
    """Publish to a local folder or, for `user@host:path`, with rsync over SSH."""
    if is_remote(target):
        return publish_with_rsync(dist, target)
    return publish_to_folder(dist, Path(target).expanduser())
