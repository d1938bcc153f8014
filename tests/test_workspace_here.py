"""Every command works on the workspace in the current folder (the default) and with --root,
with the README's own examples: a front-matter image, `new --article`, `new ISSUE`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from smtp_sink import Sink
from static_site import configure
from test_local_files import png

from newsletter.cli import main

ARTICLE = "content/articles/restless-legs-massage.md"
README_IMAGE = "image:\n  src: legs.jpg\n  alt: Hands easing a tense calf muscle\n"
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x02\x58\x04\x50\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    b"\xff\xd9"
)
"""A JPEG header for a 1104 x 600 picture: enough for the size reader."""


@pytest.fixture(params=["current-folder", "root"])
def run(request, workspace: Path, monkeypatch: pytest.MonkeyPatch):
    """`newsletter ARGS` from inside the workspace, or with --root from elsewhere."""
    runner = CliRunner()
    if request.param == "current-folder":
        monkeypatch.chdir(workspace)
        prefix: list[str] = []
    else:
        monkeypatch.chdir(workspace.parent)
        prefix = ["--root", str(workspace)]

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(main, [*prefix, *args], input=input, catch_exceptions=False)
        assert "internal error" not in result.output and "Traceback" not in result.output
        return result

    return invoke


@pytest.fixture
def with_image(workspace: Path) -> Path:
    """The README's article example: a front-matter image that is a file in content/images/."""
    (workspace / "content" / "images").mkdir()
    (workspace / "content" / "images" / "legs.jpg").write_bytes(JPEG)
    (workspace / "content" / "images" / "calf.png").write_bytes(png())
    article = workspace / ARTICLE
    text = article.read_text().replace("author: Dustin\n", "author: Dustin\n" + README_IMAGE)
    article.write_text(text + "\n![A calf after the massage](calf.png)\n")
    return workspace


def test_build_check_export_with_the_readme_image(run, with_image: Path) -> None:
    """The image example crashed every command from the current folder; now each works and
    the picture is published next to the email."""
    built = run("build")
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith("Built 2026-12 -> dist/issues/2026-12/ (")
    images = with_image / "dist" / "issues" / "2026-12" / "images"
    assert (images / "legs.jpg").read_bytes() == JPEG
    assert (images / "calf.png").read_bytes() == png()
    html = (with_image / "dist" / "issues" / "2026-12" / "email.html").read_text()
    assert 'src="https://news.example.org/issues/2026-12/images/legs.jpg"' in html
    assert 'width="552" height="300"' in html
    checked = run("check")
    assert checked.exit_code == 0, checked.output
    assert not [line for line in checked.stdout.splitlines() if "img-" in line]
    exported = run("export", "--format", "mailchimp")
    assert exported.exit_code == 0, exported.output


def test_preview_renders_the_readme_image(with_image: Path, monkeypatch) -> None:
    """The preview's renderer on Paths('.'), as `newsletter preview` runs it by default."""
    from newsletter.preview.app import render_snapshot
    from newsletter.workspace import Paths

    monkeypatch.chdir(with_image)
    snapshot = render_snapshot(Paths(Path(".")), None, version="1").snapshot
    assert snapshot.problems == ()
    assert 'src="/images/legs.jpg"' in snapshot.documents["light"]


def test_the_monthly_loop_from_new_article_to_send(run, with_image: Path, monkeypatch) -> None:
    """new --article, fill it in, new ISSUE (names what it used), check, build, a test send
    and a real send to a local SMTP server, status."""
    created = run("new", "--article", "winter-sleep")
    assert created.exit_code == 0, created.output
    assert created.stdout == (
        "Created content/articles/winter-sleep.md: fill in the TODOs, then start the issue "
        "with `newsletter new YYYY-MM`.\n"
    )
    article = with_image / "content" / "articles" / "winter-sleep.md"
    text = article.read_text()
    assert text.startswith('---\ntitle: "TODO: the article\'s title"\n')
    article.write_text(
        text.replace("TODO: the article's title", "Sleep better this winter")
        .replace(
            "TODO: one or two sentences; the issue's preview line comes from them", "Three habits."
        )
        .replace("# image:\n#   src: legs.jpg\n#   alt:", "image:\n  src: legs.jpg\n  alt:")
        .split("---\nTODO")[0]
        + "---\nThree habits for deeper rest. ![A calf](calf.png)\n"
    )
    issue = run("new", "2027-01")
    assert issue.exit_code == 0, issue.output
    assert issue.stdout.splitlines()[1] == "  articles: winter-sleep (the newest not sent before)"
    letter = with_image / "content" / "issues" / "2027-01.md"
    letter.write_text(
        letter.read_text().replace("TODO: a short", "A short").replace("TODO: your name", "Dustin")
    )
    checked = run("check", "2027-01")
    assert checked.exit_code == 0, checked.output
    assert run("build", "2027-01").exit_code == 0
    with Sink() as server:
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", server.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(server.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        test = run("send", "2027-01", "--test", "me@example.org")
        assert test.exit_code == 0, test.output
        added = run("subscribers", "add", "ann@example.org", "--consent", "asked in person")
        assert added.exit_code == 0, added.output
        # A live send refuses the example's reserved sender and asks base_url for the web
        # version (test_send_preflight); this walk is about the paths, so neither applies.
        configure(with_image, sender="dustin@sample-bodywork.net")
        sent = run("send", "2027-01", "--yes", "--offline")
        assert sent.exit_code == 0, sent.output
        assert len(server.received) == 2
    status = run("status", "2027-01")
    assert status.exit_code == 0 and "sent             1" in status.stdout


def test_new_issue_with_no_unused_article_says_what_to_do(run, workspace: Path) -> None:
    """The only article went out in 2026-12: `new` creates nothing and names the next step."""
    result = run("new", "2027-01")
    assert result.exit_code == 1
    assert result.stderr == (
        "content/issues/2027-01.md: not created: every article in content/articles/ was sent "
        "before, and an issue needs at least one. Write this month's first: `newsletter new "
        "--article SLUG` starts content/articles/SLUG.md; then run `newsletter new 2027-01` "
        "again\nFound 1 error.\n"
    )
    assert not (workspace / "content" / "issues" / "2027-01.md").exists()


def test_the_suite_reads_its_own_example_never_the_live_content() -> None:
    """A practitioner's own issue in content/ must never break `make test`: no test or
    benchmark names the repository's content/ folder; they copy tests/fixtures/example."""
    here = Path(__file__).resolve().parent
    offenders = [
        f"{path.relative_to(here)}: {found}"
        for path in sorted(here.rglob("*.py"))
        if path != Path(__file__).resolve()
        for found in _names_of_the_live_content(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    assert (here / "fixtures" / "example" / "content" / "newsletter.toml").is_file()


_REPOSITORY = re.compile(r"(?:\.parent\.parent\b|\.parents\[[1-9]\])")
"""How a file under tests/ (or tests/benchmarks/) reaches the repository's root."""


def _names_of_the_live_content(source: str) -> list[str]:
    """`X / "content"` where X is the repository: a constant, or any name assigned from a
    path that climbs out of tests/ (`Path(__file__).parent.parent`, `.parents[1]`)."""
    names = {"REPO", "ROOT"} | set(
        re.findall(
            r"(?m)^\s*(\w+)\s*(?::[^=]+)?=\s*Path\(__file__\)\S*" + _REPOSITORY.pattern, source
        )
    )
    climbs = "|".join([*map(re.escape, sorted(names)), r"\S*" + _REPOSITORY.pattern])
    live = re.compile(rf"""(?:{climbs})\s*/\s*["']content\b""")
    return [found.group(0) for found in live.finditer(source)]


def test_the_live_content_guard_sees_each_spelling() -> None:
    """The guard above is seen to fail on each way a test could name the live content/."""
    spellings = [
        'shutil.copytree(REPO / "content", root)',
        'repo = Path(__file__).resolve().parent.parent\nshutil.copytree(repo / "content", r)',
        'base: Path = Path(__file__).resolve().parents[2]\nx = base / "content"',
        'Path(__file__).resolve().parent.parent / "content"',
    ]
    assert [len(_names_of_the_live_content(s)) for s in spellings] == [1, 1, 1, 1]
    fine = 'shutil.copytree(EXAMPLE / "content", root / "content")'
    assert _names_of_the_live_content(fine) == []


def test_tests_run_outside_the_repository() -> None:
    """A command given no --root reads the current folder: never the live content/."""
    here = Path.cwd().resolve()
    assert not (here / "content").exists()
    assert Path(__file__).resolve().parent.parent not in (here, *here.parents)
