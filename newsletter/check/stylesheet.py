"""CSS in the email, parsed: style attributes, the kept <style> block and selector lists.

tinycss2 keeps what it does not know (mso-* properties, nested rules) as tokens instead of
dropping it, so the rules see the stylesheet as written (the read_* functions). Its tokenizer
was most of a fresh check's time, so plainly written CSS (all of an inlined email's, as a
rule) is read by the short cuts in check/plaincss.py, which give the very same records; each
text is parsed once and remembered by its text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

import tinycss2
import tinycss2.ast
from lxml import etree

from newsletter.check.cssmodel import GROUPING, AtRule, Declaration, Rule, StyleSheet
from newsletter.check.plaincss import (
    plain_declarations,
    plain_selectors,
    plain_stylesheet,
)

__all__ = [
    "AtRule",
    "Declaration",
    "Rule",
    "StyleSheet",
    "clear_caches",
    "media_conditions",
    "parse_css",
    "parse_declarations",
    "read_declarations",
    "read_selectors",
    "read_stylesheet",
    "split_selectors",
    "style_of",
]


def read_declarations(block: str) -> tuple[Declaration, ...]:
    """What tinycss2 reads in a declaration list."""
    nodes = tinycss2.parse_declaration_list(block, True, True)
    return _declarations(nodes)


def read_stylesheet(css: str) -> StyleSheet:
    """What tinycss2 reads in a stylesheet: its style rules and at-rules, in order."""
    rules: list[Rule] = []
    at_rules: list[AtRule] = []
    _walk(tinycss2.parse_stylesheet(css, True, True), (), rules, at_rules)
    return StyleSheet(tuple(rules), tuple(at_rules))


def read_selectors(selector: str) -> tuple[str, ...]:
    """The selectors tinycss2 finds in a selector list: split at its top-level commas."""
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


@functools.lru_cache(maxsize=4096)
def parse_declarations(block: str) -> tuple[Declaration, ...]:
    """`a:b; c:d !important` (a style attribute or a rule's block) into declarations.

    Remembered by text: an inlined email repeats the same few style attributes on hundreds of
    elements, and several rules read each one."""
    plain = plain_declarations(block)
    return read_declarations(block) if plain is None else plain


@functools.lru_cache(maxsize=16)
def parse_css(css: str) -> StyleSheet:
    """Every style rule with its enclosing at-rules, and every at-rule with its parents."""
    plain = plain_stylesheet(css)
    return read_stylesheet(css) if plain is None else plain


def split_selectors(selector: str) -> list[str]:
    """A selector list into its selectors, keeping commas inside brackets or :is(...)."""
    return list(_split_selectors(selector))


@functools.lru_cache(maxsize=1024)
def _split_selectors(selector: str) -> tuple[str, ...]:
    plain = plain_selectors(selector)
    return read_selectors(selector) if plain is None else plain


def _declarations(nodes: Iterable[Any]) -> tuple[Declaration, ...]:
    return tuple(
        Declaration(node.lower_name, tinycss2.serialize(node.value).strip(), node.important)
        for node in nodes
        if node.type == "declaration"
    )


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
            if node.content is not None and node.lower_at_keyword in GROUPING:
                content = tinycss2.parse_blocks_contents(node.content, True, True)
                _walk(content, (*parents, prelude), rules, at_rules)


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
