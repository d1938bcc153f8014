"""Load articles, testimonials and issues from content/ into validated, typed values.

Every file is checked before anything is written, and every problem is reported together.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from newsletter.errors import Collector, NewsletterError, did_you_mean
from newsletter.load import parsed
from newsletter.load.frontmatter import Document, Field
from newsletter.load.images import display_size, image_size
from newsletter.load.lines import key_lines, markdown_blocks
from newsletter.load.memo import Memo
from newsletter.load.references import find_references, is_local, resolve_local
from newsletter.model import Article, Consent, Image, Issue, Testimonial
from newsletter.workspace import Paths, read_text

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EXAMPLE_DATE = "2026-12-01"
SLUG_HELP = "use lowercase letters, digits and single hyphens, e.g. restless-legs"


class Library(NamedTuple):
    """Everything under content/, validated."""

    articles: dict[str, Article]
    testimonials: dict[str, Testimonial]
    issues: dict[str, Issue]


def is_slug(value: str) -> bool:
    return bool(SLUG.match(value))


# --- field readers: each returns the value or adds a problem and returns None ---------------

Reader = Callable[[Field, str, str, Collector], Any]


def _text(single_line: bool = False) -> Reader:
    def read(field: Field, key: str, path: str, problems: Collector) -> str | None:
        value = field.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            problems.add(path, field.line, f"{key}: expected text, got {_describe(value)}")
            return None
        value = value.strip()
        if single_line and ("\n" in value or "\r" in value):
            problems.add(
                path, field.line, f"{key}: must be one line (it is used in a header or title)"
            )
            return None
        return value

    return read


def _date(field: Field, key: str, path: str, problems: Collector) -> dt.date | None:
    value = field.value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            from newsletter.load.yamlsafe import real_date_reason

            reason = real_date_reason(value)
            if reason:
                problems.add(
                    path, field.line, f"{key}: {value.strip()} is not a real date: {reason}"
                )
                return None
    problems.add(
        path,
        field.line,
        f"{key}: expected a date as YYYY-MM-DD, e.g. {EXAMPLE_DATE}, got {_describe(value)}",
    )
    return None


def _slugs(field: Field, key: str, path: str, problems: Collector) -> tuple[str, ...] | None:
    value = field.value
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.add(path, field.line, f"{key}: expected a list of slugs, got {_describe(value)}")
        return None
    out: list[str] = []
    for item in value:
        if isinstance(item, str) and re.match(r"-[^\s-]", item):
            first = item.split()[0].lstrip("-")
            problems.add(
                path,
                field.line,
                f"{key}: {item!r}: a list item needs a space after '-': write '- {first}', "
                "one item a line",
            )
            continue
        if not isinstance(item, str) or not is_slug(item):
            problems.add(path, field.line, f"{key}: {item!r} is not a slug ({SLUG_HELP})")
            continue
        if item in out:
            problems.add(path, field.line, f"{key}: {item!r} is listed twice")
            continue
        out.append(item)
    return tuple(out)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "true/false"
    return repr(value)


def _check_keys(doc: Document, known: dict[str, bool], problems: Collector) -> None:
    for key, field in doc.fields.items():
        if key not in known:
            problems.add(doc.path, field.line, f"unknown key '{key}'{did_you_mean(key, known)}")
    for key, required in known.items():
        if required and key not in doc.fields:
            problems.add(doc.path, 1, f"missing required key '{key}'")


def _read(doc: Document, key: str, reader: Reader, problems: Collector, default: Any = None) -> Any:
    field = doc.fields.get(key)
    if field is None:
        return default
    if field.value is None or field.value == "":
        return default
    return reader(field, key, doc.path, problems)


def _required_text(
    doc: Document, key: str, problems: Collector, *, single_line: bool = False
) -> str:
    field = doc.fields.get(key)
    if field is None:
        return ""
    value = _text(single_line)(field, key, doc.path, problems)
    if value == "":
        problems.add(doc.path, field.line, f"{key}: must not be empty")
    return value or ""


# --- kinds -------------------------------------------------------------------------------------

ARTICLE_KEYS = {
    "title": True,
    "summary": True,
    "date": True,
    "image": False,
    "cta": False,
    "author": False,
}
TESTIMONIAL_KEYS = {"author": True, "service": True, "consent": True, "date": False}
ISSUE_KEYS = {
    "subject": True,
    "preheader": False,
    "date": True,
    "articles": True,
    "testimonials": False,
    "cta": False,
    "greeting": False,
}


def _image(doc: Document, paths: Paths, problems: Collector) -> Image | None:
    field = doc.fields.get("image")
    if field is None or field.value in (None, ""):
        return None
    if isinstance(field.value, str):
        problems.add(
            doc.path,
            field.line,
            "image: give src and alt, e.g.\n  image:\n    src: legs.jpg\n    alt: Hands massaging a calf",
        )
        return None
    if not isinstance(field.value, dict) or field.children is None:
        problems.add(
            doc.path, field.line, f"image: expected src and alt, got {_describe(field.value)}"
        )
        return None
    known = {"src": True, "alt": True, "width": False, "height": False}
    for key, child in field.children.items():
        if key not in known:
            problems.add(
                doc.path, child.line, f"image: unknown key '{key}'{did_you_mean(key, known)}"
            )
    src_field = field.children.get("src")
    alt_field = field.children.get("alt")
    if src_field is None:
        problems.add(
            doc.path, field.line, "image: missing src (a file in content/images/ or an https URL)"
        )
        return None
    if alt_field is None:
        problems.add(
            doc.path,
            field.line,
            "image: missing alt: describe the picture for screen readers and images-off "
            '(alt: "" only for a purely decorative image)',
        )
        return None
    src = _text(True)(src_field, "image.src", doc.path, problems)
    alt = _text(True)(alt_field, "image.alt", doc.path, problems)
    if src is None or alt is None:
        return None
    width = height = 0
    for key in ("width", "height"):
        given = field.children.get(key)
        if given is not None:
            if (
                not isinstance(given.value, int)
                or isinstance(given.value, bool)
                or given.value <= 0
            ):
                problems.add(
                    doc.path, given.line, f"image.{key}: expected a whole number of pixels"
                )
                return None
            if key == "width":
                width = given.value
            else:
                height = given.value
    path: Path | None = None
    parts = urlsplit(src)
    if parts.scheme:
        if parts.scheme != "https":
            problems.add(
                doc.path,
                src_field.line,
                f"image.src: expected https:// or a file in content/images/, got {src!r}",
            )
            return None
        if not (width and height):
            problems.add(doc.path, src_field.line, "image: a remote image needs width and height")
            return None
    else:
        local = resolve_local(src, paths)
        if local.problem or local.real is None:
            problems.add(doc.path, src_field.line, f"image.src: {local.problem}")
            return None
        path = local.real
        size = image_size(path)
        if size is None:
            problems.add(doc.path, src_field.line, f"image.src: {local.name} cannot be read")
            return None
        natural_w, natural_h = size
        if width and not height:
            height = round(natural_h * width / natural_w)
        elif height and not width:
            width = round(natural_w * height / natural_h)
        elif not width:
            width, height = display_size(natural_w, natural_h)
        src = local.name
    width, height = display_size(width, height)
    return Image(src=src, alt=alt, width=width, height=height, path=path)


def _body_images(
    body: str, body_line: int, path: str, paths: Paths, problems: Collector
) -> tuple[tuple[str, int, int], ...]:
    """Check every local name in a Markdown body; return the pixel sizes of its images."""
    found: list[tuple[str, int, int]] = []
    for ref in sorted(find_references(body), key=lambda r: r.line):
        if not is_local(ref.raw):
            continue
        local = resolve_local(ref.raw, paths, kind=ref.kind)
        if local.problem:
            problems.add(path, body_line + ref.line, f"{ref.what} {ref.raw!r}: {local.problem}")
            continue
        if local.real is not None and ref.kind == "image":
            size = image_size(local.real)
            if size is not None and not any(src == ref.raw for src, _, _ in found):
                found.append((ref.raw, *size))
    return tuple(found)


MAX_NESTING = 20
"""Lists or quotes nested deeper exhaust the Markdown parser's recursion; nobody needs 20."""
_LIST_ITEM = re.compile(r"( *)(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")


def _nesting(body: str, body_line: int, path: str, problems: Collector) -> None:
    """One problem at the first line nested more than MAX_NESTING lists or quotes deep."""
    for number, line in enumerate(body.split("\n")):
        line = line.expandtabs(4)
        quotes = len(re.match(r"[ >]*", line).group(0).replace(" ", ""))  # type: ignore[union-attr]
        item = _LIST_ITEM.match(line)
        depth = max(quotes, (len(item.group(1)) // 4 + 1) if item else 0)
        if depth > MAX_NESTING:
            problems.add(
                path,
                body_line + number,
                f"lists or quotes nested {depth} levels deep; at most {MAX_NESTING} are "
                "supported: flatten the list",
            )
            return


def parse_article(doc: Document, slug: str, paths: Paths, problems: Collector) -> Article | None:
    before = len(problems.errors)
    _check_keys(doc, ARTICLE_KEYS, problems)
    title = _required_text(doc, "title", problems, single_line=True)
    summary = _required_text(doc, "summary", problems)
    date = _read(doc, "date", _date, problems)
    image = _image(doc, paths, problems)
    cta = ""
    cta_field = doc.fields.get("cta")
    if cta_field is not None:
        if cta_field.value is True:
            cta = "default"
        elif cta_field.value in (False, None, ""):
            cta = ""
        elif isinstance(cta_field.value, str) and "\n" not in cta_field.value:
            cta = cta_field.value.strip()
        else:
            problems.add(
                doc.path, cta_field.line, "cta: expected true, false or the button's label"
            )
    author = _read(doc, "author", _text(True), problems, "")
    sizes = _body_images(doc.body, doc.body_line, doc.path, paths, problems)
    _nesting(doc.body, doc.body_line, doc.path, problems)
    if len(problems.errors) > before or date is None:
        return None
    return Article(
        slug=slug,
        path=doc.path,
        title=title,
        summary=summary,
        date=date,
        body=doc.body,
        body_line=doc.body_line,
        image=image,
        cta=cta,
        author=author or "",
        image_sizes=sizes,
        lines=key_lines(doc.fields),
        blocks=markdown_blocks(doc.body, doc.body_line),
    )


def parse_testimonial(doc: Document, slug: str, problems: Collector) -> Testimonial | None:
    before = len(problems.errors)
    _check_keys(doc, TESTIMONIAL_KEYS, problems)
    author = _required_text(doc, "author", problems, single_line=True)
    service = _required_text(doc, "service", problems, single_line=True)
    date = _read(doc, "date", _date, problems)
    consent = _consent(doc, problems)
    _nesting(doc.body, doc.body_line, doc.path, problems)
    if not doc.body.strip():
        problems.add(
            doc.path, doc.body_line, "the testimonial's words are missing below the front matter"
        )
    if len(problems.errors) > before or consent is None:
        return None
    return Testimonial(
        slug=slug,
        path=doc.path,
        author=author,
        service=service,
        consent=consent,
        body=doc.body,
        body_line=doc.body_line,
        date=date,
        lines=key_lines(doc.fields),
        blocks=markdown_blocks(doc.body, doc.body_line),
    )


def _consent(doc: Document, problems: Collector) -> Consent | None:
    field = doc.fields.get("consent")
    if field is None:
        problems.add(
            doc.path,
            1,
            "no consent recorded: a client's words may only be published with their permission; "
            "add consent: {date: YYYY-MM-DD, method: how they agreed}",
        )
        return None
    if not isinstance(field.value, dict) or field.children is None:
        problems.add(
            doc.path,
            field.line,
            "consent: expected date and method, e.g. consent: {date: 2023-06-02, method: signed release form}",
        )
        return None
    known = {"date": True, "method": True}
    for key, child in field.children.items():
        if key not in known:
            problems.add(
                doc.path, child.line, f"consent: unknown key '{key}'{did_you_mean(key, known)}"
            )
    date_field = field.children.get("date")
    method_field = field.children.get("method")
    if date_field is None or method_field is None:
        missing = "date" if date_field is None else "method"
        problems.add(
            doc.path, field.line, f"consent: missing {missing} (when and how the client agreed)"
        )
        return None
    date = _date(date_field, "consent.date", doc.path, problems)
    method = _text(True)(method_field, "consent.method", doc.path, problems)
    if not method:
        if method == "":
            problems.add(doc.path, method_field.line, "consent.method: say how the client agreed")
        return None
    if date is None:
        return None
    return Consent(date=date, method=method)


def parse_issue(
    doc: Document,
    issue_id: str,
    paths: Paths,
    articles: dict[str, Article | None],
    testimonials: dict[str, Testimonial | None],
    problems: Collector,
) -> Issue | None:
    before = len(problems.errors)
    _check_keys(doc, ISSUE_KEYS, problems)
    subject = _required_text(doc, "subject", problems, single_line=True)
    preheader = _read(doc, "preheader", _text(True), problems, "")
    date = _read(doc, "date", _date, problems)
    cta = _read(doc, "cta", _text(True), problems, "")
    greeting_field = doc.fields.get("greeting")
    greeting = "Hello"
    if greeting_field is not None:
        if greeting_field.value in (False, None, ""):
            greeting = ""
        else:
            greeting = _text(True)(greeting_field, "greeting", doc.path, problems) or ""
    chosen_articles = _resolve(doc, "articles", articles, problems)
    articles_field = doc.fields.get("articles")
    if articles_field is not None and not articles_field.value:
        problems.add(
            doc.path,
            articles_field.line,
            "articles: an issue needs at least one article: list its name (the file name "
            "without .md), e.g. articles: [winter-sleep]; `newsletter new --article SLUG` "
            "starts a new one",
        )
    chosen_testimonials = _resolve(doc, "testimonials", testimonials, problems)
    sizes = _body_images(doc.body, doc.body_line, doc.path, paths, problems)
    _nesting(doc.body, doc.body_line, doc.path, problems)
    if len(problems.errors) > before or date is None:
        return None
    return Issue(
        id=issue_id,
        path=doc.path,
        subject=subject,
        preheader=preheader or "",
        date=date,
        intro=doc.body,
        intro_line=doc.body_line,
        articles=tuple(chosen_articles),
        testimonials=tuple(chosen_testimonials),
        cta=cta or "",
        greeting=greeting,
        image_sizes=sizes,
        lines=key_lines(doc.fields),
        blocks=markdown_blocks(doc.body, doc.body_line),
    )


def _resolve(doc: Document, key: str, known: dict[str, Any], problems: Collector) -> list[Any]:
    field = doc.fields.get(key)
    if field is None or field.value is None:
        return []
    slugs = _slugs(field, key, doc.path, problems) or ()
    kind = key.rstrip("s")
    found = []
    for slug in slugs:
        if slug not in known:
            problems.add(
                doc.path,
                field.line,
                f"{key}: no {kind} '{slug}' (expected content/{key}/{slug}.md)"
                f"{did_you_mean(slug, known)}",
            )
        elif known[slug] is not None:
            found.append(known[slug])
    return found


# --- I/O ---------------------------------------------------------------------------------------


def _documents(
    paths: Paths, folder: str, problems: Collector, memo: Memo
) -> dict[str, Document | None]:
    """Every .md file of a content folder, parsed; None where the file has problems."""
    out: dict[str, Document | None] = {}
    directory = paths.content / folder
    if not directory.is_dir():
        return out
    for file in sorted(directory.iterdir()):
        if file.suffix != ".md" or file.name.startswith("."):
            continue
        rel = paths.rel(file)
        slug = file.stem
        if not is_slug(slug):
            problems.add(rel, 1, f"file name '{file.name}' is not a valid slug ({SLUG_HELP})")
            continue
        try:
            out[slug] = parsed.parse(read_text(file, rel), path=rel, memo=memo)
        except NewsletterError as exc:
            problems.extend(exc.problems)
            out[slug] = None
    return out


def load_library(paths: Paths) -> Library:
    """All content, validated together; raises once with every problem."""
    problems = Collector()
    memo = parsed.memo()
    article_docs = _documents(paths, "articles", problems, memo)
    testimonial_docs = _documents(paths, "testimonials", problems, memo)
    issue_docs = _documents(paths, "issues", problems, memo)
    memo.save()
    articles = {
        slug: (parse_article(doc, slug, paths, problems) if doc else None)
        for slug, doc in article_docs.items()
    }
    testimonials = {
        slug: (parse_testimonial(doc, slug, problems) if doc else None)
        for slug, doc in testimonial_docs.items()
    }
    issues = {
        issue_id: (
            parse_issue(doc, issue_id, paths, articles, testimonials, problems) if doc else None
        )
        for issue_id, doc in issue_docs.items()
    }
    problems.raise_if_errors()
    return Library(
        articles={k: v for k, v in articles.items() if v},
        testimonials={k: v for k, v in testimonials.items() if v},
        issues={k: v for k, v in issues.items() if v},
    )


def pick_issue(library: Library, issue_id: str | None) -> Issue:
    """The named issue, or the newest by date when none is named."""
    if issue_id is not None:
        if not is_slug(issue_id):
            raise NewsletterError.single(
                "content/issues",
                f"'{issue_id}' is not a valid issue id (like 2026-12; {SLUG_HELP})",
            )
        if issue_id not in library.issues:
            raise NewsletterError.single(
                f"content/issues/{issue_id}.md",
                f"no such issue{did_you_mean(issue_id, library.issues)}; "
                "create it with `newsletter new " + issue_id + "`",
            )
        return library.issues[issue_id]
    if not library.issues:
        raise NewsletterError.single(
            "content/issues", "no issues yet; create one with `newsletter new YYYY-MM`"
        )
    return max(library.issues.values(), key=lambda i: (i.date, i.id))
