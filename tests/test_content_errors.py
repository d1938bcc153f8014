"""Every content mistake is `path:line: message` on stderr with exit 1, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

ARTICLE = "content/articles/restless-legs-massage.md"
TESTIMONIAL = "content/testimonials/n-l-massage-craniosacral.md"
ISSUE = "content/issues/2026-12.md"

GOOD_ARTICLE = """---
title: A short article
summary: One line about it.
date: 2026-11-01
---
Body text.
"""


def replace_in(workspace: Path, rel: str, old: str, new: str) -> None:
    path = workspace / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def run_build(cli) -> tuple[int, list[str]]:
    result = cli("build")
    assert "Traceback" not in result.output
    return result.exit_code, result.stderr.splitlines()


@pytest.mark.parametrize(
    ("rel", "data", "expected"),
    [
        (
            ARTICLE,
            b"---\ntitle: caf\xe9\n---\n",
            f"{ARTICLE}:2: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
        ),
        (
            ARTICLE,
            b"\x89PNG\r\n\x1a\n\x00\x00",
            f"{ARTICLE}: this is a binary file, not UTF-8 text",
        ),
        (ARTICLE, "", f"{ARTICLE}:1: the file is empty; it needs front matter between '---' lines"),
        (
            ARTICLE,
            "---\n- title\n- date\n---\nbody\n",
            f"{ARTICLE}:2: front matter must be key: value pairs, got a list",
        ),
        (
            ARTICLE,
            "---\ntitle: x\nsummary: y\n",
            f"{ARTICLE}:1: front matter is not closed: add a line '---' after it",
        ),
        (
            ARTICLE,
            "title: x\n",
            f"{ARTICLE}:1: missing front matter: the first line must be '---', then key: value lines, then '---'",
        ),
        (
            ARTICLE,
            "---\ntitle: [x\n---\n",
            f"{ARTICLE}:2: front matter is not valid YAML: a list in brackets is not closed: add the closing ']' at the end of the line",
        ),
    ],
    ids=["invalid-utf8", "binary", "empty", "list", "unclosed", "no-front-matter", "yaml-error"],
)
def test_unreadable_files(cli, write, rel, data, expected) -> None:
    write({rel: data})
    code, lines = run_build(cli)
    assert code == 1
    assert expected in lines


def test_bad_date(cli, workspace) -> None:
    replace_in(workspace, ARTICLE, "date: 2026-11-20", "date: 12/03")
    code, lines = run_build(cli)
    assert code == 1
    assert (
        f"{ARTICLE}:4: date: expected a date as YYYY-MM-DD, e.g. 2026-12-01, got '12/03'" in lines
    )


def test_unknown_key_suggests_known(cli, workspace) -> None:
    replace_in(workspace, ARTICLE, "summary:", "sumary:")
    code, lines = run_build(cli)
    assert code == 1
    assert f"{ARTICLE}:3: unknown key 'sumary' (did you mean 'summary'?)" in lines
    assert f"{ARTICLE}:1: missing required key 'summary'" in lines


def test_unknown_slug(cli, workspace) -> None:
    replace_in(workspace, ISSUE, "  - restless-legs-massage", "  - restless-leg-massage")
    code, lines = run_build(cli)
    assert code == 1
    assert (
        f"{ISSUE}:5: articles: no article 'restless-leg-massage' (expected "
        "content/articles/restless-leg-massage.md) (did you mean 'restless-legs-massage'?)"
    ) in lines


def test_missing_article_list(cli, workspace) -> None:
    replace_in(workspace, ISSUE, "articles:\n  - restless-legs-massage\n", "")
    code, lines = run_build(cli)
    assert code == 1
    assert f"{ISSUE}:1: missing required key 'articles'" in lines


def test_slug_with_path_traversal(cli, workspace) -> None:
    replace_in(workspace, ISSUE, "  - restless-legs-massage", "  - ../../etc/passwd")
    code, lines = run_build(cli)
    assert code == 1
    assert any(
        line.startswith(f"{ISSUE}:5: articles: '../../etc/passwd' is not a slug") for line in lines
    )


def test_file_name_that_is_not_a_slug(cli, write) -> None:
    write({"content/articles/My Article.md": GOOD_ARTICLE})
    code, lines = run_build(cli)
    assert code == 1
    assert any(
        l.startswith(
            "content/articles/My Article.md:1: file name 'My Article.md' is not a valid slug"
        )
        for l in lines
    )


def test_issue_id_that_is_not_a_slug(cli) -> None:
    result = cli("build", "../2026-12")
    assert result.exit_code == 1
    assert "'../2026-12' is not a valid issue id" in result.stderr


def test_unknown_issue_id(cli) -> None:
    result = cli("build", "2026-13")
    assert result.exit_code == 1
    assert "content/issues/2026-13.md: no such issue" in result.stderr


def test_missing_image(cli, workspace) -> None:
    replace_in(
        workspace,
        ARTICLE,
        "author: Dustin\n",
        "author: Dustin\nimage:\n  src: calf.jpg\n  alt: Hands on a calf\n",
    )
    code, lines = run_build(cli)
    assert code == 1
    assert (
        f"{ARTICLE}:7: image.src: content/images/calf.jpg not found (put the file in content/images/)"
        in lines
    )


def test_missing_image_in_body(cli, workspace) -> None:
    replace_in(
        workspace,
        ARTICLE,
        "Restless Leg Syndrome (RLS), a",
        "![Legs](images/legs.png)\n\nRestless Leg Syndrome (RLS), a",
    )
    code, lines = run_build(cli)
    assert code == 1
    assert any(
        l.startswith(f"{ARTICLE}:10: image 'images/legs.png': content/images/legs.png not found")
        for l in lines
    )


def test_image_outside_images_folder(cli, workspace) -> None:
    replace_in(
        workspace,
        ARTICLE,
        "author: Dustin\n",
        "author: Dustin\nimage:\n  src: ../newsletter.toml\n  alt: x\n",
    )
    code, lines = run_build(cli)
    assert code == 1
    assert lines == [
        f"{ARTICLE}:7: image.src: '../newsletter.toml' is outside content/images/: only files in "
        "content/images/ are published; put the file there and write its name, e.g. newsletter.toml",
        "Found 1 error.",
    ]


def test_image_without_alt(cli, write, workspace) -> None:
    write({"content/images/calf.png": _png(1200, 800)})
    replace_in(workspace, ARTICLE, "author: Dustin\n", "author: Dustin\nimage:\n  src: calf.png\n")
    code, lines = run_build(cli)
    assert code == 1
    assert any(l.startswith(f"{ARTICLE}:6: image: missing alt") for l in lines)


def test_newline_in_subject(cli, workspace) -> None:
    replace_in(
        workspace,
        ISSUE,
        'subject: "Restless legs at night? How massage can help"',
        'subject: "Hi\\nBcc: all@example.com"',
    )
    code, lines = run_build(cli)
    assert code == 1
    assert f"{ISSUE}:2: subject: must be one line (it is used in a header or title)" in lines


def test_testimonial_without_consent(cli, workspace) -> None:
    replace_in(
        workspace,
        TESTIMONIAL,
        "consent:\n  date: 2023-01-01\n  method: Sample record; replace with how and when the client agreed (e.g. signed release form)\n",
        "",
    )
    code, lines = run_build(cli)
    assert code == 1
    assert any(l.startswith(f"{TESTIMONIAL}:1: no consent recorded:") for l in lines)


def test_testimonial_consent_without_method(cli, workspace) -> None:
    replace_in(
        workspace,
        TESTIMONIAL,
        "  method: Sample record; replace with how and when the client agreed (e.g. signed release form)\n",
        "",
    )
    code, lines = run_build(cli)
    assert code == 1
    assert f"{TESTIMONIAL}:5: consent: missing method (when and how the client agreed)" in lines


def test_every_problem_in_one_run(cli, workspace) -> None:
    """Problems in several files and in the config come back together."""
    replace_in(workspace, ARTICLE, "date: 2026-11-20", "date: soon")
    replace_in(workspace, ISSUE, "date: 2026-12-01", "date: tomorrow")
    replace_in(
        workspace,
        "content/newsletter.toml",
        'url = "https://booking.example.com/sample-bodywork"',
        'url = "ftp://x"',
    )
    code, lines = run_build(cli)
    assert code == 1
    assert any(l.startswith(f"{ARTICLE}:4: date:") for l in lines)
    assert any(l.startswith(f"{ISSUE}:4: date:") for l in lines)
    assert any(l.startswith("content/newsletter.toml:") and "booking.url" in l for l in lines)
    assert lines[-1] == "Found 3 errors."


def test_failed_build_keeps_previous_output(cli, workspace) -> None:
    """A broken edit after a good build leaves dist/ exactly as it was."""
    assert cli("build").exit_code == 0
    email = workspace / "dist" / "issues" / "2026-12" / "email.html"
    before = email.read_bytes()
    replace_in(workspace, ARTICLE, "date: 2026-11-20", "date: never")
    assert cli("build").exit_code == 1
    assert email.read_bytes() == before
    assert sorted(p.name for p in (workspace / "dist").iterdir()) == [
        ".newsletter-build.json",
        ".newsletter-build.lock",
        "feed.xml",
        "index.html",
        "issues",
    ]
    assert sorted(p.name for p in (workspace / "dist" / "issues").iterdir()) == ["2026-12"]


def test_template_error_is_reported_with_line(cli, workspace) -> None:
    replace_in(
        workspace, "templates/partials/footer.html", "{{ config.reason }}", "{{ config.reasn }}"
    )
    result = cli("build")
    assert result.exit_code == 1
    assert "templates/partials/footer.html:3: template error:" in result.stderr
    assert "reasn" in result.stderr


def test_template_syntax_error(cli, workspace) -> None:
    replace_in(
        workspace, "templates/email.html", "{% if config.tagline %}", "{% if config.tagline %"
    )
    result = cli("build")
    assert result.exit_code == 1
    assert "templates/email.html:" in result.stderr and "template error" in result.stderr


def _png(width: int, height: int) -> bytes:
    import struct
    import zlib

    raw = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
