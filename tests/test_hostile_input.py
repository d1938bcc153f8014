"""Bad input and a hostile machine are user mistakes (exit 1, path:line or one line), never exit 70."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_SECRET, running_preview

ARTICLE = "content/articles/restless-legs-massage.md"
ISSUE = "content/issues/2026-12.md"
TESTIMONIAL = "content/testimonials/n-l-massage-craniosacral.md"
HEAD = "---\ntitle: A short article\nsummary: One line about it.\ndate: 2026-11-20\n---\n"


def replace_in(workspace: Path, rel: str, old: str, new: str) -> None:
    path = workspace / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def errors(cli) -> list[str]:
    result = cli("build")
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output
    return result.stderr.splitlines()


@pytest.mark.parametrize(
    ("rel", "old", "new", "expected"),
    [
        (
            ARTICLE,
            "date: 2026-11-20",
            "date: 2026-02-30",
            f"{ARTICLE}:4: date: 2026-02-30 is not a real date: February 2026 has 28 days, "
            "e.g. 2026-02-28",
        ),
        (
            ISSUE,
            "date: 2026-12-01",
            "date: 2026-13-45",
            f"{ISSUE}:4: date: 2026-13-45 is not a real date: there is no month 13 (01 to 12), "
            "e.g. 2026-12-01",
        ),
        (
            TESTIMONIAL,
            "  date: 2023-01-01",
            "  date: '2023-04-31'",
            f"{TESTIMONIAL}:6: consent.date: 2023-04-31 is not a real date: April 2023 has 30 "
            "days, e.g. 2023-04-30",
        ),
        (
            ARTICLE,
            "date: 2026-11-20",
            "date: next week",
            f"{ARTICLE}:4: date: expected a date as YYYY-MM-DD, e.g. 2026-12-01, got 'next week'",
        ),
    ],
    ids=["february-30", "month-13", "quoted", "words"],
)
def test_every_date_error_gives_an_example(cli, workspace, rel, old, new, expected) -> None:
    """An impossible date is a content error with a real date to copy, never a crash."""
    replace_in(workspace, rel, old, new)
    assert errors(cli) == [expected, "Found 1 error."]


def test_a_yaml_alias_bomb_is_refused_without_expanding_it(cli, workspace) -> None:
    """A few hundred bytes of anchors that would expand to gigabytes: refused at the first
    alias, and nothing expanded is printed."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        prev = chr(ord("a") + n - 1)
        levels.append(f"{chr(ord('a') + n)}: &{chr(ord('a') + n)} [{', '.join(['*' + prev] * 9)}]")
    (workspace / ARTICLE).write_text("---\n" + "\n".join(levels) + "\n---\nBody.\n")
    started = time.perf_counter()
    lines = errors(cli)
    assert time.perf_counter() - started < 5
    assert lines == [
        f"{ARTICLE}:3: front matter: '*a' is a YAML alias, and aliases are not accepted in "
        "front matter: write the value out in full",
        "Found 1 error.",
    ]


@pytest.mark.parametrize(
    ("front", "line"),
    [
        ("title: " + "[" * 300 + "]" * 300, 2),
        ("title:\n" + "".join("  " * i + "-\n" for i in range(1, 301)), 22),
    ],
    ids=["flow", "block"],
)
def test_yaml_nested_300_levels_is_refused(cli, workspace, front: str, line: int) -> None:
    (workspace / ARTICLE).write_text(f"---\n{front}\n---\nBody.\n")
    assert errors(cli) == [
        f"{ARTICLE}:{line}: front matter: values nested more than 20 levels deep are not "
        "accepted: front matter needs at most a list or a few keys under a key",
        "Found 1 error.",
    ]


def test_a_markdown_list_nested_300_levels_is_refused(cli, workspace) -> None:
    """python-markdown recurses once per level: 300 levels exhausted the stack (exit 70)."""
    body = "".join("    " * i + "- item\n" for i in range(300))
    (workspace / ARTICLE).write_text(HEAD + "Intro.\n" + body)
    assert errors(cli) == [
        f"{ARTICLE}:27: lists or quotes nested 21 levels deep; at most 20 are supported: "
        "flatten the list",
        "Found 1 error.",
    ]


def test_a_number_python_cannot_hold_is_a_content_error(cli, workspace) -> None:
    replace_in(workspace, ARTICLE, "author: Dustin", "author: " + "9" * 5000)
    lines = errors(cli)
    assert lines == [
        f"{ARTICLE}:5: author: this value cannot be read; put it in quotes to keep it as text",
        "Found 1 error.",
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "summary: ",
            "summary: Sleep: a guide. ",
            ":3: front matter is not valid YAML: the value contains ': ' (a colon and a space): "
            'put it in quotes, e.g. summary: "Sleep: a guide. ',
        ),
        (
            "author: Dustin",
            "\tauthor: Dustin",
            ":5: front matter is not valid YAML: a tab character: indent front matter with "
            "spaces, not tabs",
        ),
    ],
    ids=["colon", "tab"],
)
def test_common_yaml_slips_in_plain_words(cli, workspace, old, new, expected) -> None:
    replace_in(workspace, ARTICLE, old, new)
    first = errors(cli)[0]
    assert first.startswith(ARTICLE + expected), first


def test_a_list_item_without_a_space_after_the_dash(cli, workspace) -> None:
    replace_in(workspace, ISSUE, "  - restless-legs-massage", "  -restless-legs-massage")
    assert errors(cli) == [
        f"{ISSUE}:5: articles: '-restless-legs-massage': a list item needs a space after '-': "
        "write '- restless-legs-massage', one item a line",
        "Found 1 error.",
    ]


def test_an_issue_without_articles_is_an_error(cli, workspace) -> None:
    replace_in(workspace, ISSUE, "articles:\n  - restless-legs-massage", "articles: []")
    assert errors(cli) == [
        f"{ISSUE}:5: articles: an issue needs at least one article: list its name (the file "
        "name without .md), e.g. articles: [winter-sleep]; `newsletter new --article SLUG` "
        "starts a new one",
        "Found 1 error.",
    ]


# --- the machine: read-only, full disk ----------------------------------------------------------


def newsletter(
    root: Path, *args: str, limit: int | None = None, drop_root: bool = False
) -> subprocess.CompletedProcess[str]:
    """The real command in its own process; `limit` caps the bytes of any file it writes (the
    kernel then fails the write as a full disk would); `drop_root` takes away root's licence
    to ignore file permissions."""
    env = {**os.environ, "NEWSLETTER_SECRET": TEST_SECRET, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "newsletter", "--root", str(root), *args]
    if drop_root and os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv (util-linux)")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *command]

    def cap() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        command, env=env, capture_output=True, text=True, preexec_fn=cap, timeout=60
    )


def test_a_read_only_workspace_is_one_plain_line(workspace: Path) -> None:
    """build (into dist/ or --out) and new in a workspace nobody may write: exit 1, one line."""
    modes = {p: p.stat().st_mode for p in [workspace, *workspace.rglob("*")]}
    for path in modes:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        built = newsletter(workspace, "build", drop_root=True)
        new = newsletter(workspace, "new", "--article", "winter-sleep", drop_root=True)
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert (built.returncode, built.stdout) == (1, "")
    assert built.stderr == (
        "dist: cannot write the build: Permission denied: the folder is read-only; make it "
        "writable or build elsewhere with --out; the previous build is unchanged\nFound 1 error.\n"
    )
    assert (new.returncode, new.stderr) == (
        1,
        "content/articles/winter-sleep.md: cannot create the file: Permission denied\n"
        "Found 1 error.\n",
    )


@pytest.mark.slow
def test_a_full_disk_during_build_keeps_the_previous_build(workspace: Path) -> None:
    """Writes fail part-way (the kernel refuses past 8 KB): one clear line, exit 1, the
    previous issue folder untouched and no staging folder left behind."""
    assert newsletter(workspace, "build").returncode == 0
    folder = workspace / "dist" / "issues" / "2026-12"
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    replace_in(workspace, ISSUE, "subject: ", "subject: New ")
    result = newsletter(workspace, "build", limit=8 * 1024)
    assert result.returncode == 1, result.stderr
    assert result.stderr == (
        "dist: cannot write the build: File too large: free some space, then build again; "
        "the previous build is unchanged\nFound 1 error.\n"
    )
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert not [p for p in (workspace / "dist").rglob(".newsletter-stage*")]


def wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
def test_preview_keeps_watching_after_any_content_error(workspace: Path) -> None:
    """Each hostile edit, saved while the preview watches, shows as the article's problems;
    the watcher survives every one and the next good save renders again."""
    good = (workspace / ARTICLE).read_text()
    bad = [
        good.replace("date: 2026-11-20", "date: 2026-02-30"),
        "---\na: &a [x, x]\nb: [*a, *a]\n---\n",
        "---\ntitle: " + "[" * 300 + "]" * 300 + "\n---\n",
        HEAD + "".join("    " * i + "- item\n" for i in range(300)),
        HEAD + "![x][c1]\n\n[c1]: ../../../ws/data/secret\n",
    ]
    with running_preview(workspace) as preview:
        assert wait_for(lambda: preview.state.snapshot.ok)
        for text in bad:
            seen = preview.state.snapshot.version
            for _ in range(3):  # saved again if the watcher was not yet listening
                (workspace / ARTICLE).write_text(text)
                changed = wait_for(
                    lambda seen=seen: (
                        preview.state.snapshot.version != seen
                        and bool(preview.state.snapshot.problems)
                    ),
                    timeout=3,
                )
                if changed:
                    break
            assert preview.state.snapshot.problems, text[:60]
            assert all(p.path == ARTICLE for p in preview.state.snapshot.problems)
        (workspace / ARTICLE).write_text(good)
        assert wait_for(lambda: preview.state.snapshot.ok)
