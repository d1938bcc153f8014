"""`newsletter new`: start next month's issue from the newest content not sent before."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import NamedTuple

import yaml

from newsletter.errors import NewsletterError
from newsletter.load.content import SLUG_HELP, Library, is_slug, load_library
from newsletter.workspace import Paths


def _issue_date(issue_id: str, today: dt.date) -> dt.date:
    match = re.fullmatch(r"(\d{4})-(\d{2})", issue_id)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if 1 <= month <= 12:
            return dt.date(year, month, 1)
    return today


class Scaffold(NamedTuple):
    """The new issue's text and the slugs it picked, to tell the practitioner what it used."""

    text: str
    articles: tuple[str, ...]
    testimonials: tuple[str, ...]


def scaffold_issue(library: Library, issue_id: str, *, today: dt.date) -> Scaffold:
    """Front matter and a starter letter: unused articles (newest first) and one unused testimonial."""
    used_articles = {a.slug for i in library.issues.values() for a in i.articles}
    used_testimonials = {t.slug for i in library.issues.values() for t in i.testimonials}
    articles = sorted(
        (a for a in library.articles.values() if a.slug not in used_articles),
        key=lambda a: (a.date, a.slug),
        reverse=True,
    )[:2]
    testimonials = sorted(
        (t for t in library.testimonials.values() if t.slug not in used_testimonials),
        key=lambda t: (t.date or t.consent.date, t.slug),
        reverse=True,
    )[:1]
    lead = articles[0] if articles else None
    front = {
        "subject": lead.title if lead else "TODO: subject",
        "preheader": lead.summary
        if lead
        else "TODO: one sentence shown after the subject in the inbox",
        "date": _issue_date(issue_id, today).isoformat(),
        "articles": [a.slug for a in articles],
        "testimonials": [t.slug for t in testimonials],
        "greeting": "Hello",
    }
    body = (
        "TODO: a short, personal letter. What is new at the practice this month,\n"
        "and why you wrote this month's article.\n\n"
        "Warmly,  \n"
        "TODO: your name\n"
    )
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return Scaffold(
        f"---\n{head}---\n{body}",
        tuple(a.slug for a in articles),
        tuple(t.slug for t in testimonials),
    )


def new_issue(
    paths: Paths, issue_id: str, *, today: dt.date | None = None
) -> tuple[Path, Scaffold]:
    """Write content/issues/<id>.md from unused content; refuses to overwrite an issue, and to
    start one with no article to send."""
    if not is_slug(issue_id):
        raise NewsletterError.single(
            "content/issues", f"'{issue_id}' is not a valid issue id ({SLUG_HELP})"
        )
    target = paths.content / "issues" / f"{issue_id}.md"
    rel = paths.rel(target)
    if target.exists():
        raise NewsletterError.single(rel, "already exists; edit it, or choose another issue id")
    library = load_library(paths)
    scaffold = scaffold_issue(library, issue_id, today=today or dt.date.today())
    if not scaffold.articles:
        sent = (
            "every article in content/articles/ was sent before"
            if library.articles
            else ("there is no article in content/articles/ yet")
        )
        raise NewsletterError.single(
            rel,
            f"not created: {sent}, and an issue needs at least one. Write this month's first: "
            f"`newsletter new --article SLUG` starts content/articles/SLUG.md; then run "
            f"`newsletter new {issue_id}` again",
        )
    _create(target, scaffold.text, rel)
    return target, scaffold


def scaffold_article(title_slug: str, *, today: dt.date) -> str:
    """An article's front matter with every key explained, and a starter body."""
    return (
        "---\n"
        'title: "TODO: the article\'s title"\n'
        'summary: "TODO: one or two sentences; the issue\'s preview line comes from them"\n'
        f"date: {today.isoformat()}\n"
        "# A picture: put the file in content/images/ and write its name there, e.g.\n"
        "# image:\n"
        "#   src: legs.jpg\n"
        "#   alt: Hands easing a tense calf muscle\n"
        "cta: true\n"
        "---\n"
        "TODO: write the article in Markdown. `## A heading` starts a section; a picture in the\n"
        "text is `![what it shows](legs.jpg)`, with the file in content/images/.\n"
    )


def new_article(paths: Paths, slug: str, *, today: dt.date | None = None) -> Path:
    """Write content/articles/<slug>.md to fill in; refuses to overwrite an article."""
    if not is_slug(slug):
        raise NewsletterError.single(
            "content/articles", f"'{slug}' is not a valid article name ({SLUG_HELP})"
        )
    target = paths.content / "articles" / f"{slug}.md"
    rel = paths.rel(target)
    if target.exists():
        raise NewsletterError.single(rel, "already exists; edit it, or choose another name")
    _create(target, scaffold_article(slug, today=today or dt.date.today()), rel)
    return target


def _create(target: Path, text: str, rel: str) -> None:
    """Create the file, never over another, whole or not at all; an unwritable folder is a
    plain error."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("x", encoding="utf-8")
    except FileExistsError:
        raise NewsletterError.single(
            rel, "already exists; edit it, or choose another name"
        ) from None
    except OSError as exc:
        raise NewsletterError.single(
            rel, f"cannot create the file: {exc.strerror or exc}"
        ) from None
    try:
        with out:
            out.write(text)
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise NewsletterError.single(rel, f"cannot write the file: {exc.strerror or exc}") from None
