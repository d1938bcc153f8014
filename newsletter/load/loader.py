"""The whole workspace loaded once: config, content and the email's templates, every problem
of the first two reported together."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from newsletter.errors import Collector, NewsletterError
from newsletter.load.config import load_config
from newsletter.load.content import Library, load_library, pick_issue
from newsletter.model import Config, Issue, SourceText
from newsletter.workspace import Paths


class Workspace(NamedTuple):
    """What `check` and the build work from; nothing here is read from disk again."""

    paths: Paths
    config: Config
    library: Library
    templates: tuple[SourceText, ...] = ()
    """The templates that make the email, in the order findings prefer them (see
    load_templates)."""


def load_workspace(
    paths: Paths, env: Mapping[str, str] | None = None, *, templates: bool = True
) -> Workspace:
    """Config and content together, so one run reports the problems of both; and, unless
    `templates` is false (a build, which renders them through Jinja), the email's templates."""
    problems = Collector()
    config = library = None
    try:
        config = load_config(paths, env)
    except NewsletterError as exc:
        problems.extend(exc.problems)
    try:
        library = load_library(paths)
    except NewsletterError as exc:
        problems.extend(exc.problems)
    problems.raise_if_errors()
    assert config is not None and library is not None
    return Workspace(paths, config, library, load_templates(paths) if templates else ())


def load_templates(paths: Paths) -> tuple[SourceText, ...]:
    """The email's templates (not the web pages): the page, the inlined stylesheet, the
    partials, then the kept stylesheet, since most declarations end up inline. Missing or
    unreadable files are left out; rendering reports them."""
    folder = paths.templates
    if not folder.is_dir():
        return ()
    files = [folder / "email.html", folder / "email.css"]
    files += sorted((folder / "partials").rglob("*.html"))
    files.append(folder / "email-head.css")
    base = paths.rel(folder)
    return tuple(
        SourceText(f"{base}/{file.relative_to(folder).as_posix()}", text)
        for file in files
        if (text := _read(file))
    )


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8") if file.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return ""


def pick_issues(library: Library, issue_id: str | None, *, all_issues: bool) -> list[Issue]:
    """The named issue, the newest, or with `all_issues` every issue by date."""
    if not all_issues:
        return [pick_issue(library, issue_id)]
    issues = sorted(library.issues.values(), key=lambda i: (i.date, i.id))
    if not issues:
        pick_issue(library, None)  # raises the "no issues yet" problem
    return issues
