"""The README's monthly loop, as written, from the workspace as the current folder (no --root).

new --article, an article with a front-matter image, new ISSUE, check, build, publish to the
folder base_url serves, import the client list, send --test, a real send to a loopback SMTP
server, status. Real components throughout: the SMTP sink (aiosmtpd), an HTTPS server on
127.0.0.1 for base_url, the SQLite file.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner, Result
from smtp_sink import Sink
from static_site import configure, png, serving

from newsletter.cli import main

SLUG = "winter-sleep"
ARTICLE = f"""---
title: Sleeping well through the winter
summary: Three gentle evening habits that many clients find help them settle and sleep.
date: 2026-12-20
author: Dustin
image:
  src: {SLUG}.png
  alt: A cup of tea beside a folded blanket
cta: true
---
Long nights can leave the body restless. Many clients find that a warm shower, a few slow
breaths and ten minutes without a screen help them settle before bed.

## A simple routine

Try the same three steps each evening for a week and notice how you feel.
"""
CONTACTS = (
    "First Name,Middle Name,Last Name,E-mail 1 - Label,E-mail 1 - Value,Phone 1 - Value\n"
    "Ann,,Lee,* Home,ann@example.org,555-0100\n"
    "Bo,,Ray,* Home,bo@example.org ::: bo@work.example.net,\n"
    "Cy,,Day,,,555-0102\n"
)


class Practice(NamedTuple):
    root: Path
    sink: Sink
    www: Path
    """The folder base_url serves."""
    requests: list[str]
    """What the web server was asked, in order."""
    root_args: tuple[str, ...]

    def newsletter(self, *args: str) -> Result:
        """`newsletter ARGS` as the README types it (plus --root in the --root variant)."""
        return CliRunner().invoke(main, [*self.root_args, *args], catch_exceptions=False)


@pytest.fixture(params=["current folder", "--root"])
def practice(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh copy of the example workspace, SMTP at a sink, base_url at an HTTPS server.

    The current folder is the workspace (the README's way), or another folder with --root.
    """
    from conftest import copy_example

    root = copy_example(tmp_path / "practice")
    (root / "contacts.csv").write_text(CONTACTS, encoding="utf-8")  # from Google Contacts
    from_root = request.param == "--root"
    monkeypatch.chdir(tmp_path if from_root else root)
    with Sink() as sink, serving(tmp_path / "www", tmp_path, monkeypatch) as (base_url, log):
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", sink.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(sink.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        configure(root, base_url=base_url, sender="dustin@sample-bodywork.net")
        args = ("--root", str(root)) if from_root else ()
        yield Practice(root, sink, tmp_path / "www", log, args)


def write_article(practice: Practice) -> None:
    """The README's second step: write the article (and put its picture in content/images/)."""
    article = practice.root / "content/articles" / f"{SLUG}.md"
    result = practice.newsletter("new", "--article", SLUG)
    assert result.exit_code == 0, result.output
    assert article.is_file()
    (practice.root / "content/images").mkdir(exist_ok=True)
    (practice.root / f"content/images/{SLUG}.png").write_bytes(png(1104, 736))
    article.write_text(ARTICLE, encoding="utf-8")


def write_letter(issue: Path) -> None:
    """The practitioner writes the letter below the front matter `new` filled in."""
    text = issue.read_text(encoding="utf-8")
    front, _, _body = text.partition("\n---\n")
    assert SLUG in front  # `new` picked the newest unused article
    letter = "Hello from the practice. This month is about sleeping well.\n\nWarmly,\nDustin\n"
    issue.write_text(f"{front}\n---\n{letter}", encoding="utf-8")


@pytest.mark.slow
def test_the_monthly_loop(practice: Practice) -> None:
    """Every step of the README's loop succeeds in order and the subscribers get the issue."""
    run, root = practice.newsletter, practice.root
    write_article(practice)

    created = run("new", "2027-01")
    assert created.exit_code == 0, created.output
    assert created.stdout.startswith("Created content/issues/2027-01.md")
    write_letter(root / "content/issues/2027-01.md")

    checked = run("check")
    assert checked.exit_code == 0, checked.output
    assert checked.stdout == "2027-01: no problems found.\n"

    built = run("build")
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith("Built 2027-01 -> dist/issues/2027-01/ (email.html ")
    assert (root / f"dist/issues/2027-01/images/{SLUG}.png").is_file()

    published = run("publish", "--to", str(practice.www))
    assert published.exit_code == 0, published.output
    assert (practice.www / "issues/2027-01/index.html").is_file()
    assert (practice.www / f"issues/2027-01/images/{SLUG}.png").is_file()

    contacts = str(root / "contacts.csv") if practice.root_args else "contacts.csv"
    imported = run("subscribers", "import", contacts, "--consent", "intake form")
    assert imported.exit_code == 0, imported.output
    assert imported.stdout == (
        f"Imported {contacts} (Google Contacts, 3 rows): 2 added, 0 updated, 0 unchanged, "
        "0 rejected, 0 skipped (unsubscribed, bounced or complained), 1 not imported "
        "(1 without an address)\n"
    )

    test = run("send", "2027-01", "--test", "me@example.com")
    assert test.exit_code == 0, test.output
    assert practice.sink.messages_to("me@example.com")[0]["Subject"].startswith("[TEST] ")

    live = run("send", "2027-01", "--yes")
    assert live.exit_code == 0, live.output
    assert live.stdout.splitlines()[-1].endswith(
        "2027-01 (live): 2 sent, 0 failed, 0 skipped, 0 left."
    )
    assert sorted(practice.sink.counts()) == ["ann@example.org", "bo@example.org", "me@example.com"]
    assert f"HEAD /issues/2027-01/images/{SLUG}.png" in practice.requests

    status = run("status", "2027-01")
    assert status.exit_code == 0
    assert "  sent             2\n" in status.stdout
