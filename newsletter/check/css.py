"""A small parser for the kept <style> block: rules with their enclosing at-rules.

The block is our own minified CSS (render.minify_css), so a brace scanner is enough and
avoids cssutils, which drops what it doesn't know (mso-*, nested rules) instead of showing it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from newsletter.check.base import split_declarations


@dataclass(frozen=True)
class Declaration:
    name: str
    value: str
    important: bool


@dataclass(frozen=True)
class Rule:
    selector: str
    declarations: tuple[Declaration, ...]
    at_rules: tuple[str, ...]
    """Preludes of the enclosing at-rules, outermost first, e.g. ("@media (max-width:620px)",)."""


@dataclass(frozen=True)
class AtRule:
    prelude: str
    """E.g. "@media (prefers-color-scheme:dark)" or "@import url(x.css)"."""
    parents: tuple[str, ...]


@dataclass(frozen=True)
class StyleSheet:
    rules: tuple[Rule, ...]
    at_rules: tuple[AtRule, ...]


def parse_declarations(block: str) -> tuple[Declaration, ...]:
    out = []
    for item in split_declarations(block):
        name, _, value = item.partition(":")
        if not value:
            continue
        important = bool(re.search(r"!\s*important\s*$", value, re.IGNORECASE))
        value = re.sub(r"!\s*important\s*$", "", value, flags=re.IGNORECASE).strip()
        out.append(Declaration(name.strip().lower(), value, important))
    return tuple(out)


def parse_css(css: str) -> StyleSheet:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    rules: list[Rule] = []
    at_rules: list[AtRule] = []

    def block_end(start: int) -> int:
        depth = 0
        for i in range(start, len(css)):
            if css[i] == "{":
                depth += 1
            elif css[i] == "}":
                depth -= 1
                if depth == 0:
                    return i
        return len(css)

    def scan(start: int, stop: int, parents: tuple[str, ...]) -> None:
        pos = start
        while pos < stop:
            brace = css.find("{", pos, stop)
            semi = css.find(";", pos, stop)
            if brace == -1 and semi == -1:
                return
            if semi != -1 and (brace == -1 or semi < brace):
                prelude = css[pos:semi].strip()
                if prelude.startswith("@"):
                    at_rules.append(AtRule(prelude, parents))
                pos = semi + 1
                continue
            prelude = css[pos:brace].strip()
            end = block_end(brace)
            if prelude.startswith("@"):
                at_rules.append(AtRule(prelude, parents))
                if re.match(r"@(media|supports|document|container|layer)\b", prelude, re.I):
                    scan(brace + 1, end, (*parents, prelude))
            elif prelude:
                rules.append(Rule(prelude, parse_declarations(css[brace + 1 : end]), parents))
            pos = end + 1

    scan(0, len(css), ())
    return StyleSheet(tuple(rules), tuple(at_rules))


def split_selectors(selector: str) -> list[str]:
    return [s.strip() for s in selector.split(",") if s.strip()]


def media_conditions(prelude: str) -> list[str]:
    """The conditions of a media query: "(a) and (b), (c)" gives three."""
    query = re.sub(r"^@media\s*", "", prelude, flags=re.I)
    parts = re.split(r",|\band\b|\bor\b", query)
    return [p.strip() for p in parts if p.strip() and p.strip().lower() not in ("screen", "all")]
