"""The CSS of an email as check reads it: declarations, style rules with their enclosing
at-rules, and the at-rules themselves."""

from __future__ import annotations

from typing import NamedTuple

GROUPING = {"media", "supports", "document", "container", "layer"}
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
