"""`newsletter new`: start next month's issue from the newest content not sent before."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

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


def scaffold_issue(library: Library, issue_id: str, *, today: dt.date) -> str:
    """Front matter and a starter letter: unused articles (newest first) and one unused testimonial."""
    used_articles = {a.slug for i in library.issues.values() for a in i.articles}
    used_testimonials = {t.slug for i in library.issues.values() for t in i.testimonials}
    articles = sorted(
        (a for a in library.articles.values() if a.slug not in used_articles),
        key=lambda a: (a.date, a.slug),
        reverse=True,
    )
    testimonials = sorted(
        (t for t in library.testimonials.values() if t.slug not in used_testimonials),
        key=lambda t: (t.date or t.consent.date, t.slug),
        reverse=True,
    )
    lead = articles[0] if articles else None
    front = {
        "subject": lead.title if lead else "TODO: subject",
        "preheader": lead.summary
        if lead
        else "TODO: one sentence shown after the subject in the inbox",
        "date": _issue_date(issue_id, today).isoformat(),
        "articles": [a.slug for a in articles[:2]],
        "testimonials": [t.slug for t in testimonials[:1]],
        "greeting": "Hello",
    }
    body = (
        "TODO: a short, personal letter. What is new at the practice this month,\n"
        "and why you wrote this month's article.\n\n"
        "Warmly,  \n"
        "TODO: your name\n"
    )
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n{body}"


def new_issue(paths: Paths, issue_id: str, *, today: dt.date | None = None) -> Path:
    """Write content/issues/<id>.md; refuses to overwrite an existing issue."""
    if not is_slug(issue_id):
        raise NewsletterError.single(
            "content/issues", f"'{issue_id}' is not a valid issue id ({SLUG_HELP})"
        )
    target = paths.content / "issues" / f"{issue_id}.md"
    rel = paths.rel(target)
    if target.exists():
        raise NewsletterError.single(rel, "already exists; edit it, or choose another issue id")
    library = load_library(paths)
    text = scaffold_issue(library, issue_id, today=today or dt.date.today())
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("x", encoding="utf-8") as out:
        out.write(text)
    return target
