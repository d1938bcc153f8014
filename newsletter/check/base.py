"""What every check rule works on: the email as a recipient gets it, parsed once, and the lines
of the loaded content and templates, to name the line that caused a finding.

Lines come from the loaded records (front-matter keys from the YAML parser, Markdown blocks
from the loader) and from the templates the workspace loaded: nothing is read again here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NamedTuple, TypeVar, cast

import lxml.html
from lxml import etree

from newsletter.build.placeholders import fill
from newsletter.check.stylesheet import StyleSheet, parse_css, parse_declarations
from newsletter.load.loader import Workspace
from newsletter.model import Article, Config, Issue, Ref, Rendered, SourceText, Testimonial
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


class Place(NamedTuple):
    """One line of content as the loader read it: a front-matter value or a body line."""

    path: str
    line: int
    text: str


def content_places(issue: Issue) -> list[Place]:
    """The issue's own file, then its articles and testimonials: front-matter values at their
    keys' lines, then every line of every Markdown block, from the loaded records."""
    places: list[Place] = []
    for record, fields in _records(issue):
        values = [(record.lines.get(key), value) for key, value in fields if value]
        places += [Place(record.path, line, value) for line, value in sorted(values) if line]
        for block in record.blocks:
            places += [Place(record.path, n, text) for n, text in block.numbered()]
    return places


def content_refs(issue: Issue, kind: str) -> list[tuple[str, Ref]]:
    """(path, ref) of every link or image in the issue's content, in the order of
    content_places: an article's front-matter image before the images of its body."""
    out: list[tuple[str, Ref]] = []
    for record, _ in _records(issue):
        image = getattr(record, "image", None)
        if kind == "image" and image is not None:
            line = record.lines.get("image.src")
            out.append((record.path, Ref("image", line, image.src, image.alt, "front-matter")))
        out += [(record.path, r) for b in record.blocks for r in b.refs if r.kind == kind]
    return out


def _records(issue: Issue) -> Iterator[tuple[Issue | Article | Testimonial, list[tuple[str, str]]]]:
    """Each record with its front-matter text values by key."""
    yield (
        issue,
        [
            ("subject", issue.subject),
            ("preheader", issue.preheader),
            ("cta", issue.cta),
            ("greeting", issue.greeting),
        ],
    )
    for a in issue.articles:
        image = [("image.src", a.image.src), ("image.alt", a.image.alt)] if a.image else []
        yield (
            a,
            [
                ("title", a.title),
                ("summary", a.summary),
                ("cta", a.cta),
                ("author", a.author),
                *image,
            ],
        )
    for t in issue.testimonials:
        method = t.consent.method if t.consent else ""
        yield t, [("author", t.author), ("service", t.service), ("consent.method", method)]


def normalise(text: str) -> str:
    """Undo what smarty and the HTML did to text, so rendered words can be found in Markdown."""
    table = {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "---"}
    table |= {"\u2013": "--", "\u2026": "...", "\xa0": " ", "\u200c": ""}
    for a, b in table.items():
        text = text.replace(a, b)
    return text


Needle = str | re.Pattern[str]


def _matches(needle: Needle, line: str) -> bool:
    if isinstance(needle, re.Pattern):
        return needle.search(line) is not None
    return fold(needle) in fold(line)


def find_place(places: Iterable[Place], needle: Needle) -> tuple[str, int] | None:
    """The first place whose line holds the needle (a string ignores case and typography)."""
    if isinstance(needle, str) and not needle.strip():
        return None
    for place in places:
        if _matches(needle, place.text):
            return place.path, place.line
    return None


def fold(text: str) -> str:
    """What a string needle is compared on: typography undone, lower case."""
    return normalise(text).lower()


class Lines:
    """Places with each line folded once, so a search does not fold every line again:
    `find` gives what find_place gives."""

    def __init__(self, places: list[Place]) -> None:
        self.places = places
        self._folded: list[str] | None = None

    def find(self, needle: Needle) -> tuple[str, int] | None:
        if isinstance(needle, re.Pattern):
            return find_place(self.places, needle)
        if not needle.strip():
            return None
        if self._folded is None:
            self._folded = [fold(place.text) for place in self.places]
        wanted = fold(needle)
        for place, folded in zip(self.places, self._folded, strict=True):
            if wanted in folded:
                return place.path, place.line
        return None


def template_places(templates: Iterable[SourceText]) -> list[Place]:
    """Every line of the loaded templates, in the loader's order."""
    return [
        Place(source.path, number, text)
        for source in templates
        for number, text in enumerate(source.text.split("\n"), start=1)
    ]


def sample_values(config: Config) -> dict[str, str]:
    """A plausible recipient, so the checked HTML is what a subscriber receives."""
    from newsletter.build.recipient import make_recipient

    reader = make_recipient("reader@example.net", "Sam Reader", config=config, secret=SAMPLE_SECRET)
    return dict(reader.values)


T = TypeVar("T")


@dataclass
class Email:
    """The rendered issue filled for a sample recipient and parsed with lxml, once per check.

    Also the check's shared context: the parsed CSS, each element's inline style and whether
    it is hidden are worked out once, and `shared` keeps what rules derive from them (the
    computed colours, the text elements), so no rule repeats another's work."""

    workspace: Workspace
    rendered: Rendered
    html: str
    tree: etree._Element
    output: str
    """The output file findings point at, e.g. dist/issues/2026-12/email.html."""
    places: list[Place]
    """The content lines, from the loaded records."""
    templates: list[Place]
    """The template lines, from the loaded templates."""
    values: dict[str, str] = field(default_factory=dict)
    _memo: dict[Callable[..., Any], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _styles: dict[str, Mapping[str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def config(self) -> Config:
        return self.workspace.config

    @property
    def paths(self) -> Paths:
        return self.workspace.paths

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
            (style.text or "") for style in self.tree.iter("style") if is_element(style)
        )

    @cached_property
    def sheet(self) -> StyleSheet:
        """The kept <style> blocks parsed: every rule and at-rule, for every rule that asks."""
        return parse_css(self.kept_css)

    def style(self, element: etree._Element) -> Mapping[str, str]:
        """An element's inline declarations, last one wins, names lower-cased (read only:
        elements with the same style attribute share one mapping)."""
        text = str(element.get("style") or "")
        found = self._styles.get(text)
        if found is None:
            found = self._styles[text] = {d.name: d.value for d in parse_declarations(text)}
        return found

    @cached_property
    def _hidden(self) -> set[etree._Element]:
        """Every hidden element, in one pass down the tree: hidden itself or inside one."""
        hidden: set[etree._Element] = set()
        for node in self.tree.iter():
            if is_element(node) and (node.getparent() in hidden or hides(node)):
                hidden.add(node)
        return hidden

    def is_hidden(self, element: etree._Element) -> bool:
        """is_hidden(element), from the one pass over the tree."""
        return element in self._hidden

    def shared(self, make: Callable[[Email], T]) -> T:
        """make(self), worked out by the first rule that asks and kept for the rest."""
        if make not in self._memo:
            self._memo[make] = make(self)
        return cast(T, self._memo[make])

    @cached_property
    def body_text(self) -> str:
        """visible_text of the body, which several rules search."""
        return visible_text(self.body)

    def at(self, element: etree._Element) -> tuple[str, int]:
        """The output file and line of an element (lines match the written email.html)."""
        return self.output, int(getattr(element, "sourceline", 0) or 0)

    @cached_property
    def _content_lines(self) -> Lines:
        return Lines(self.places)

    @cached_property
    def _template_lines(self) -> Lines:
        return Lines(self.templates)

    def in_content(self, needle: Needle) -> tuple[str, int] | None:
        return self._content_lines.find(needle)

    def in_templates(self, needle: Needle) -> tuple[str, int] | None:
        return self._template_lines.find(needle)

    def locate(
        self, *needles: Needle | None, element: etree._Element | None = None
    ) -> tuple[str, int]:
        """For what only text can find (a leftover token, a heading's words): the content line
        holding the first needle found, else a template line, else the element's output line."""
        for needle in needles:
            hit = self.in_content(needle) if needle else None
            if hit:
                return hit
        for needle in needles:
            hit = self.in_templates(needle) if needle else None
            if hit:
                return hit
        if element is not None:
            return self.at(element)
        return self.output, 0

    @cached_property
    def links(self) -> list[tuple[str, Ref]]:
        """Every link written in the content, with its file."""
        return content_refs(self.rendered.issue, "link")

    @cached_property
    def images(self) -> list[tuple[str, Ref]]:
        """Every image written in the content bodies, with its file."""
        return content_refs(self.rendered.issue, "image")

    def finding(
        self, rule: str, severity: str, where: tuple[str, int], message: str, fix: str
    ) -> Finding:
        return Finding(rule, severity, where[0], where[1], message, fix, self.issue_id)

    def elements(self, tag: str | None = None) -> Iterator[etree._Element]:
        for element in self.tree.iter(tag) if tag else self.tree.iter():
            if is_element(element):
                yield element


def is_element(node: object) -> bool:
    """An element proper: not a comment, processing instruction or entity."""
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def parse_email(workspace: Workspace, rendered: Rendered, /) -> Email:
    values = sample_values(workspace.config)
    html = fill(rendered.html, values, rendered.nonce)
    parser = lxml.html.HTMLParser(remove_comments=False, remove_blank_text=False)
    tree = lxml.html.document_fromstring(html, parser=parser)
    return Email(
        workspace=workspace,
        rendered=rendered,
        html=html,
        tree=tree,
        output=f"dist/issues/{rendered.issue.id}/email.html",
        places=content_places(rendered.issue),
        templates=template_places(workspace.templates),
        values=values,
    )


def visible_text(element: etree._Element) -> str:
    """Text a reader sees in an element: no <style>, <script> or comments."""
    parts: list[str] = []
    for node in element.iter():
        if not is_element(node):
            if node.tail:
                parts.append(node.tail)
            continue
        if node.tag not in ("style", "script", "head", "title") and node.text:
            parts.append(node.text)
        if node is not element and node.tail:
            parts.append(node.tail)
    return " ".join(" ".join(parts).split())


def is_hidden(element: etree._Element) -> bool:
    """Hidden on purpose (the preheader): display:none, mso-hide:all or the hidden attribute,
    on the element or an ancestor. (Email.is_hidden gives the same answer from one pass.)"""
    return any(hides(node) for node in (element, *element.iterancestors()))


def hides(node: etree._Element) -> bool:
    """The element itself says hidden: display:none, mso-hide:all or the hidden attribute."""
    style = (node.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "mso-hide:all" in style or node.get("hidden") is not None
