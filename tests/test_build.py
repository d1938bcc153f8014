"""End to end: the real pipeline builds the example into dist/, and the .eml is a real message."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

from conftest import TEST_SECRET

from newsletter.tokens import verify

ARTICLE = "content/articles/restless-legs-massage.md"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x08\x08\x02\x00\x00\x00"
    + b"\x00" * 40
)


def built(cli, workspace: Path, *args: str) -> Path:
    result = cli("build", *args)
    assert result.exit_code == 0, result.output
    return workspace / "dist" / "issues" / "2026-12"


def test_build_writes_the_issue_folder(cli, workspace: Path) -> None:
    result = cli("build")
    assert result.exit_code == 0
    assert re.fullmatch(
        r"Built 2026-12 -> dist/issues/2026-12/ \(email\.html \d+\.\d KB, \d+\.\d KB gzipped; "
        r"email\.txt \d+\.\d KB; message\.eml; index\.html\)\n",
        result.stdout,
    )
    folder = workspace / "dist" / "issues" / "2026-12"
    assert sorted(p.name for p in folder.iterdir()) == [
        "email.html",
        "email.txt",
        "index.html",
        "message.eml",
    ]


def test_message_eml_is_a_complete_list_message(cli, workspace: Path) -> None:
    """Parsed with the standard library: structure, headers, encodings, line lengths."""
    raw = (built(cli, workspace) / "message.eml").read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        assert len(line) <= 998, line
        assert len(line) <= 78 or re.search(rb"<(https|mailto):", line), line  # unbreakable URLs
    for line in body.split(b"\r\n"):
        assert len(line) <= 76, line  # quoted-printable's own limit
    assert raw.isascii()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.get_payload()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    for part in (text, html):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    assert message["From"] == "Dustin at Sample Bodywork <dustin@example.com>"
    assert message["To"] == "Dustin at Sample Bodywork <dustin@example.com>"
    assert message["Subject"] == "Restless legs at night? How massage can help"
    assert message["Reply-To"] == "dustin@example.com"
    assert message["List-Id"] == "Notes from the Table <notes.news.example.org>"
    assert message["MIME-Version"] == "1.0"
    assert message["Date"]
    assert re.fullmatch(r"<2026-12\.[0-9a-f]{20}@example\.com>", message["Message-ID"])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert https.startswith("https://news.example.org/unsubscribe?token=")
    assert verify(https.split("token=")[1], TEST_SECRET) == "dustin@example.com"
    assert mailto.startswith("mailto:unsubscribe@example.com?subject=unsubscribe")

    body = text.get_content()
    assert "Restless Leg Syndrome Relief: The Power of Massage Therapy" in body
    assert "https://booking.example.com/sample-bodywork?utm_source=newsletter" in body
    assert "Hello Dustin," in body
    assert "%%" not in body and "nlph." not in body
    page = html.get_content()
    assert f'href="{https.replace("&", "&amp;")}"' in page
    assert "nlph." not in page


def test_non_ascii_subject_and_sender_are_encoded(cli, workspace: Path) -> None:
    issue = workspace / "content" / "issues" / "2026-12.md"
    issue.write_text(
        issue.read_text().replace("How massage can help", "Wie Massage hilft — für Zoë")
    )
    config = workspace / "content" / "newsletter.toml"
    config.write_text(
        config.read_text().replace('name = "Dustin at Sample Bodywork"', 'name = "Dustin Müller"')
    )
    raw = (built(cli, workspace) / "message.eml").read_bytes()
    assert raw.isascii()
    assert b"=?utf-8?q?" in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == "Restless legs at night? Wie Massage hilft — für Zoë"
    assert message["From"] == "Dustin Müller <dustin@example.com>"


def test_disk_files_use_the_documented_placeholder_syntax(cli, workspace: Path) -> None:
    folder = built(cli, workspace)
    html = (folder / "email.html").read_text()
    text = (folder / "email.txt").read_text()
    assert 'href="%%unsubscribe_url%%"' in html and "Hello %%first_name%%," in html
    assert "Unsubscribe: %%unsubscribe_url%%" in text
    assert "nlph." not in html + text


def test_web_version_has_no_recipient_fields(cli, workspace: Path) -> None:
    page = (built(cli, workspace) / "index.html").read_text()
    assert "Hello friend," in page
    assert "%%" not in page and "nlph." not in page
    assert 'class="preheader"' not in page
    assert 'href="https://news.example.org/unsubscribe"' in page


def test_images_are_copied_next_to_the_issue(cli, workspace: Path, write) -> None:
    from test_content_errors import _png

    write({"content/images/calf.png": _png(800, 600)})
    article = workspace / "content" / "articles" / "restless-legs-massage.md"
    article.write_text(
        article.read_text().replace(
            "author: Dustin\n", "author: Dustin\nimage:\n  src: calf.png\n  alt: A calf\n"
        )
    )
    folder = built(cli, workspace)
    assert (folder / "images" / "calf.png").read_bytes() == (
        workspace / "content/images/calf.png"
    ).read_bytes()


def test_out_and_all(cli, workspace: Path, tmp_path: Path) -> None:
    issue = workspace / "content" / "issues" / "2027-01.md"
    issue.write_text(
        "---\nsubject: January notes from the table\npreheader: New year, new openings and a gentle start for tired legs.\n"
        "date: 2027-01-01\narticles: [restless-legs-massage]\n---\nHappy new year.\n"
    )
    out = tmp_path / "site"
    result = cli("build", "--all", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (out / "issues").iterdir()) == ["2026-12", "2027-01"]
    assert cli("build").stdout.startswith("Built 2027-01 ")  # newest by date is the default


def test_rebuild_replaces_what_build_wrote(cli, workspace: Path) -> None:
    """A picture an earlier build published and the content no longer uses goes; nothing is
    left beside dist/ but the manifest and the lock."""
    (workspace / "content" / "images").mkdir()
    (workspace / "content" / "images" / "calf.png").write_bytes(PNG)
    article = workspace / ARTICLE
    article.write_text(article.read_text() + "\n![A calf](calf.png)\n")
    folder = built(cli, workspace)
    assert (folder / "images" / "calf.png").read_bytes() == PNG
    article.write_text(article.read_text().replace("\n![A calf](calf.png)\n", ""))
    built(cli, workspace)
    assert not (folder / "images").exists()
    hidden = sorted(p.name for p in (workspace / "dist").rglob(".*"))
    assert hidden == [".newsletter-build.json", ".newsletter-build.lock"]


def test_build_reads_nothing_from_the_network(cli, workspace: Path, monkeypatch) -> None:
    """Building never opens a socket (premailer runs with allow_network=False)."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access during build")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    built(cli, workspace)


def test_build_is_quiet_on_stderr(cli) -> None:
    """premailer's and cssutils' log noise never reaches the practitioner's terminal."""
    result = cli("build")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_build_warns_when_gmail_would_clip(cli, workspace: Path) -> None:
    article = workspace / "content" / "articles" / "restless-legs-massage.md"
    paragraph = "A long paragraph about rest, breath and circulation that goes on. " * 20
    article.write_text(article.read_text() + "\n\n" + "\n\n".join([paragraph] * 90))
    result = cli("build")
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: the HTML is ")
    assert "Gmail clips emails over about 102 KB" in result.stderr


def test_archive_and_feed_list_built_issues(cli, workspace: Path) -> None:
    import xml.etree.ElementTree as ET

    issue = workspace / "content" / "issues" / "2026-12.md"
    issue.write_text(issue.read_text().replace("How massage can help", "<script>x</script> & more"))
    assert cli("build").exit_code == 0
    page = (workspace / "dist" / "index.html").read_text()
    assert (
        '<a href="issues/2026-12/">Restless legs at night? &lt;script&gt;x&lt;/script&gt; &amp; more</a>'
        in page
    )
    feed = ET.parse(workspace / "dist" / "feed.xml").getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = feed.findall("a:entry", ns)
    assert entry.find("a:title", ns).text == "Restless legs at night? <script>x</script> & more"
    assert entry.find("a:link", ns).get("href") == "https://news.example.org/issues/2026-12/"


def test_archive_skips_issues_not_built(cli, workspace: Path) -> None:
    (workspace / "content" / "issues" / "2027-01.md").write_text(
        "---\nsubject: January notes\ndate: 2027-01-01\narticles: [restless-legs-massage]\n---\nHi.\n"
    )
    assert cli("build", "2026-12").exit_code == 0
    page = (workspace / "dist" / "index.html").read_text()
    assert "issues/2026-12/" in page and "issues/2027-01/" not in page


def test_images_keep_their_subfolder_even_under_an_images_parent(tmp_path: Path) -> None:
    """A workspace that itself lives in a folder named images still copies the right path."""
    import shutil

    from click.testing import CliRunner
    from conftest import EXAMPLE, REPO
    from test_content_errors import _png

    from newsletter.cli import main

    root = tmp_path / "images" / "ws"
    shutil.copytree(EXAMPLE / "content", root / "content")
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "content" / "images" / "2026").mkdir(parents=True)
    (root / "content" / "images" / "2026" / "calf.png").write_bytes(_png(400, 300))
    article = root / "content" / "articles" / "restless-legs-massage.md"
    article.write_text(article.read_text() + "\n![A calf](images/2026/calf.png)\n")
    result = CliRunner().invoke(main, ["--root", str(root), "build"])
    assert result.exit_code == 0, result.output
    assert (root / "dist" / "issues" / "2026-12" / "images" / "2026" / "calf.png").exists()
