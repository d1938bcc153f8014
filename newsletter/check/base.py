"""What every check rule works on: the email as a recipient gets it, parsed once, and a locator
that maps what a rule found back to the content or template line that caused it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import lxml.html
from lxml import etree

from newsletter.build.placeholders import fill
from newsletter.model import Config, Rendered
from newsletter.workspace import Paths

ERROR = "error"
WARNING = "warning"
SAMPLE_SECRET = "check-sample-secret"
"""Signs the sample recipient's unsubscribe token; the token only has to look real."""


@dataclass(frozen=True)
class Finding:
    """One thing that would embarrass the sender, with where it comes from and how to fix it."""

    rule: str
    """Stable id, e.g. "gmail-clipping", "img-alt", "link-text", "contrast"."""
    severity: str
    """"error" or "warning"."""
    path: str
    """Content file when the finding comes from content, else the template or output file."""
    line: int
    """0 when no line applies."""
    message: str
    fix: str
    issue: str = ""
    """The issue checked, so `--all` output says which issue each finding is about."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message} [{self.rule}]\n    fix: {self.fix}"


@dataclass(frozen=True)
class Source:
    path: str
    text: str
    start: int = 1
    """Line of the file where `text` starts."""

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def _normalise(text: str) -> str:
    """Undo what smarty and the HTML did to text, so rendered words can be found in Markdown."""
    table = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "---"}
    table |= {"\u2013": "--", "\u2026": "...", "\xa0": " ", "\u200c": ""}
    for a, b in table.items():
        text = text.replace(a, b)
    return text


@dataclass
class Locator:
    """Finds the first file and line that contains a needle: content first, then templates."""

    content: list[Source]
    templates: list[Source]

    @staticmethod
    def _find(sources: list[Source], needle: str | re.Pattern[str]) -> tuple[str, int] | None:
        for source in sources:
            for number, line in enumerate(source.lines):
                if isinstance(needle, re.Pattern):
                    hit = needle.search(line) is not None
                else:
                    hit = _normalise(needle).lower() in _normalise(line).lower()
                if hit:
                    return source.path, source.start + number
        return None

    def in_content(self, needle: str | re.Pattern[str]) -> tuple[str, int] | None:
        if isinstance(needle, str) and not needle.strip():
            return None
        return self._find(self.content, needle)

    def in_templates(self, needle: str | re.Pattern[str]) -> tuple[str, int] | None:
        if isinstance(needle, str) and not needle.strip():
            return None
        return self._find(self.templates, needle)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def make_locator(rendered: Rendered, paths: Paths) -> Locator:
    issue = rendered.issue
    files = [issue.path, *(a.path for a in issue.articles), *(t.path for t in issue.testimonials)]
    content = [Source(p, _read(paths.root / p)) for p in files]
    templates = []
    if paths.templates.is_dir():
        # Only what makes the email (not the web pages); the inlined stylesheet before the
        # kept one, since most declarations end up inline.
        files = [paths.templates / "email.html", paths.templates / "email.css"]
        files += sorted((paths.templates / "partials").rglob("*.html"))
        files.append(paths.templates / "email-head.css")
        for file in files:
            if file.is_file():
                templates.append(Source(paths.rel(file), _read(file)))
    return Locator(content, templates)


def sample_values(config: Config) -> dict[str, str]:
    """A plausible recipient, so the checked HTML is what a subscriber receives."""
    from newsletter.build.recipient import make_recipient

    reader = make_recipient("reader@example.net", "Sam Reader", config=config, secret=SAMPLE_SECRET)
    return dict(reader.values)


@dataclass
class Email:
    """The rendered issue filled for a sample recipient and parsed with lxml, once per check."""

    rendered: Rendered
    config: Config
    paths: Paths
    html: str
    tree: etree._Element
    output: str
    """The output file findings point at, e.g. dist/issues/2026-12/email.html."""
    locator: Locator
    values: dict[str, str] = field(default_factory=dict)

    @property
    def issue_id(self) -> str:
        return self.rendered.issue.id

    @cached_property
    def body(self) -> etree._Element:
        body = self.tree.find("body")
        return body if body is not None else self.tree

    @cached_property
    def kept_css(self) -> str:
        """The <style> blocks the inliner kept: phone, dark-mode rules and client fixes."""
        return "\n".join(
            (style.text or "") for style in self.tree.iter("style") if _is_element(style)
        )

    def line_of(self, element: etree._Element) -> int:
        return int(element.sourceline or 0)

    def at(self, element: etree._Element) -> tuple[str, int]:
        """The output file and line of an element (lines match the written email.html)."""
        return self.output, self.line_of(element)

    def locate(
        self,
        *needles: str | re.Pattern[str] | None,
        element: etree._Element | None = None,
        templates: bool = True,
    ) -> tuple[str, int]:
        """Content line holding the first needle found, else a template line, else the output."""
        for needle in needles:
            if needle:
                hit = self.locator.in_content(needle)
                if hit:
                    return hit
        if templates:
            for needle in needles:
                if needle:
                    hit = self.locator.in_templates(needle)
                    if hit:
                        return hit
        if element is not None:
            return self.at(element)
        return self.output, 0

    def finding(
        self, rule: str, severity: str, where: tuple[str, int], message: str, fix: str
    ) -> Finding:
        return Finding(rule, severity, where[0], where[1], message, fix, self.issue_id)

    def elements(self, tag: str | None = None) -> Iterator[etree._Element]:
        for element in self.tree.iter(tag) if tag else self.tree.iter():
            if _is_element(element):
                yield element


def _is_element(node: object) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def parse_email(rendered: Rendered, /, *, config: Config, paths: Paths) -> Email:
    values = sample_values(config)
    html = fill(rendered.html, values, rendered.nonce)
    parser = lxml.html.HTMLParser(remove_comments=False, remove_blank_text=False)
    tree = lxml.html.document_fromstring(html, parser=parser)
    output = f"dist/issues/{rendered.issue.id}/email.html"
    return Email(
        rendered=rendered,
        config=config,
        paths=paths,
        html=html,
        tree=tree,
        output=output,
        locator=make_locator(rendered, paths),
        values=values,
    )


def visible_text(element: etree._Element) -> str:
    """Text a reader sees in an element: no <style>, <script> or comments."""
    parts: list[str] = []
    for node in element.iter():
        if not _is_element(node):
            if node.tail:
                parts.append(node.tail)
            continue
        if node.tag not in ("style", "script", "head", "title") and node.text:
            parts.append(node.text)
        if node is not element and node.tail:
            parts.append(node.tail)
    return " ".join(" ".join(parts).split())


def is_hidden(element: etree._Element) -> bool:
    """Hidden on purpose (the preheader): display:none, mso-hide:all or the hidden attribute."""
    for node in (element, *element.iterancestors()):
        style = (node.get("style") or "").replace(" ", "").lower()
        if "display:none" in style or "mso-hide:all" in style or node.get("hidden") is not None:
            return True
    return False


def style_of(element: etree._Element) -> dict[str, str]:
    """Inline declarations of an element, last one wins, names lower-cased."""
    out: dict[str, str] = {}
    for declaration in split_declarations(element.get("style") or ""):
        name, _, value = declaration.partition(":")
        if value:
            out[name.strip().lower()] = re.sub(
                r"\s*!\s*important\s*$", "", value.strip(), flags=re.I
            )
    return out


def split_declarations(css: str) -> list[str]:
    """`a:b; c:d` into declarations, keeping semicolons inside quotes or brackets."""
    out, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(css):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == ";" and depth == 0:
            out.append(css[start:i].strip())
            start = i + 1
    out.append(css[start:].strip())
    return [d for d in out if d]
