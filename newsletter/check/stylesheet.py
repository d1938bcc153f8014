"""CSS in the email, parsed with tinycss2: style attributes and the kept <style> block.

tinycss2 keeps what it does not know (mso-* properties, nested rules) as tokens instead of
dropping it, so the rules see the stylesheet as written. Parsing is the costly part of a check
in a fresh process, so each text is parsed once and remembered by its text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any, NamedTuple

import tinycss2
import tinycss2.ast
from lxml import etree

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
    return list(_split_selectors(selector))


@functools.lru_cache(maxsize=1024)
def _split_selectors(selector: str) -> tuple[str, ...]:
    parts: list[str] = []
    current: list[Any] = []
    for token in tinycss2.parse_component_value_list(selector):
        if isinstance(token, tinycss2.ast.LiteralToken) and token.value == ",":
            parts.append(tinycss2.serialize(current).strip())
            current = []
        else:
            current.append(token)
    parts.append(tinycss2.serialize(current).strip())
    return tuple(part for part in parts if part)


def media_conditions(prelude: str) -> list[str]:
    """The conditions of a media query: "(a) and (b), (c)" gives three."""
    query = re.sub(r"^@media\s*", "", prelude, flags=re.I)
    parts = re.split(r",|\band\b|\bor\b", query)
    return [p.strip() for p in parts if p.strip() and p.strip().lower() not in ("screen", "all")]


def style_of(element: etree._Element) -> dict[str, str]:
    """Inline declarations of an element, last one wins, names lower-cased."""
    return {d.name: d.value for d in parse_declarations(str(element.get("style") or ""))}


def clear_caches() -> None:
    """Forget every parsed text: what a new process starts from (benchmarks, tests)."""
    parse_declarations.cache_clear()
    parse_css.cache_clear()
    _split_selectors.cache_clear()
