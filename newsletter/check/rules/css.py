"""CSS in the email, parsed with tinycss2, and the rules on the kept <style> block: its size,
nested at-rules and media queries with more than one condition, which Gmail drops.

tinycss2 keeps what it does not know (mso-* properties, nested rules) as tokens instead of
dropping it, so the rules see the stylesheet as written.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import tinycss2
import tinycss2.ast
from lxml import etree

from newsletter.check.base import WARNING, Email, Finding
from newsletter.check.rules import rule

STYLE_LIMIT = 8 * 1024
"""Gmail ignores a whole <style> block when it is too big; 8 KB keeps clear of every limit."""
_GROUPING = {"media", "supports", "document", "container", "layer"}
"""At-rules whose block holds rules; others (@font-face, @keyframes) are not looked into."""


class Declaration(NamedTuple):
    name: str
    """Lower-cased property name."""
    value: str
    important: bool


class Rule(NamedTuple):
    selector: str
    declarations: tuple[Declaration, ...]
    at_rules: tuple[str, ...]
    """Preludes of the enclosing at-rules, outermost first, e.g. ("@media (max-width:620px)",)."""


class AtRule(NamedTuple):
    prelude: str
    """E.g. "@media (prefers-color-scheme:dark)" or "@import url(x.css)"."""
    parents: tuple[str, ...]


class StyleSheet(NamedTuple):
    rules: tuple[Rule, ...]
    at_rules: tuple[AtRule, ...]


def _declarations(nodes: Iterable[Any]) -> tuple[Declaration, ...]:
    return tuple(
        Declaration(node.lower_name, tinycss2.serialize(node.value).strip(), node.important)
        for node in nodes
        if node.type == "declaration"
    )


@functools.lru_cache(maxsize=4096)
def parse_declarations(block: str) -> tuple[Declaration, ...]:
    """`a:b; c:d !important` (a style attribute or a rule's block) into declarations.

    Remembered by text: an inlined email repeats the same few style attributes on hundreds of
    elements, and several rules read each one."""
    return _declarations(tinycss2.parse_declaration_list(block, True, True))


@functools.lru_cache(maxsize=16)
def parse_css(css: str) -> StyleSheet:
    """Every style rule with its enclosing at-rules, and every at-rule with its parents.
    Remembered by text: four rules read the same kept <style> block."""
    rules: list[Rule] = []
    at_rules: list[AtRule] = []
    _walk(tinycss2.parse_stylesheet(css, True, True), (), rules, at_rules)
    return StyleSheet(tuple(rules), tuple(at_rules))


def _walk(
    nodes: Iterable[Any], parents: tuple[str, ...], rules: list[Rule], at_rules: list[AtRule]
) -> None:
    for node in nodes:
        if node.type == "qualified-rule":
            selector = " ".join(tinycss2.serialize(node.prelude).split())
            content = tinycss2.parse_blocks_contents(node.content, True, True)
            if selector:
                rules.append(Rule(selector, _declarations(content), parents))
        elif node.type == "at-rule":
            prelude = f"@{node.at_keyword}{tinycss2.serialize(node.prelude)}".strip()
            at_rules.append(AtRule(prelude, parents))
            if node.content is not None and node.lower_at_keyword in _GROUPING:
                content = tinycss2.parse_blocks_contents(node.content, True, True)
                _walk(content, (*parents, prelude), rules, at_rules)


def split_selectors(selector: str) -> list[str]:
    """A selector list into its selectors, keeping commas inside brackets or :is(...)."""
    parts: list[str] = []
    current: list[Any] = []
    for token in tinycss2.parse_component_value_list(selector):
        if isinstance(token, tinycss2.ast.LiteralToken) and token.value == ",":
            parts.append(tinycss2.serialize(current).strip())
            current = []
        else:
            current.append(token)
    parts.append(tinycss2.serialize(current).strip())
    return [part for part in parts if part]


def media_conditions(prelude: str) -> list[str]:
    """The conditions of a media query: "(a) and (b), (c)" gives three."""
    query = re.sub(r"^@media\s*", "", prelude, flags=re.I)
    parts = re.split(r",|\band\b|\bor\b", query)
    return [p.strip() for p in parts if p.strip() and p.strip().lower() not in ("screen", "all")]


def style_of(element: etree._Element) -> dict[str, str]:
    """Inline declarations of an element, last one wins, names lower-cased."""
    return {d.name: d.value for d in parse_declarations(str(element.get("style") or ""))}


# --- the kept <style> block ---------------------------------------------------------------


def _block_where(email: Email) -> tuple[str, int]:
    return email.in_templates("@media") or (email.output, 0)


@rule
def _style_size(email: Email) -> list[Finding]:
    size = len(email.kept_css.encode("utf-8"))
    if size <= STYLE_LIMIT:
        return []
    return [
        email.finding(
            "style-size",
            WARNING,
            _block_where(email),
            f"the kept <style> block is {size / 1024:.1f} KB; Gmail drops blocks that are "
            "too big, losing the phone and dark-mode rules",
            "keep templates/email-head.css under 8 KB: only phone, dark-mode and client fixes",
        )
    ]


def _kept_at_rules(email: Email) -> Iterator[AtRule]:
    yield from parse_css(email.kept_css).at_rules


@rule
def _nested_at_rules(email: Email) -> list[Finding]:
    return [
        email.finding(
            "nested-at-rule",
            WARNING,
            email.in_templates(at.prelude.split("{")[0][:30]) or _block_where(email),
            f"'{at.prelude}' is nested inside '{at.parents[-1]}'; Gmail drops the "
            "whole <style> block",
            "write each at-rule at the top level",
        )
        for at in _kept_at_rules(email)
        if at.parents
    ]


@rule
def _media_queries(email: Email) -> list[Finding]:
    return [
        email.finding(
            "media-query",
            WARNING,
            email.in_templates(at.prelude.removeprefix("@media").strip()[:20])
            or _block_where(email),
            f"'{at.prelude}' has more than one condition; Gmail ignores such queries",
            "use one condition per media query, e.g. @media (max-width: 620px)",
        )
        for at in _kept_at_rules(email)
        if at.prelude.lower().startswith("@media") and len(media_conditions(at.prelude)) > 1
    ]
