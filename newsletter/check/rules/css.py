"""The rules on the kept <style> block: its size, nested at-rules and media queries with more
than one condition, which Gmail drops. The CSS itself is parsed once per check (Email.sheet,
check/stylesheet.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from newsletter.check.base import WARNING, Email, Finding
from newsletter.check.rules import rule
from newsletter.check.stylesheet import AtRule, media_conditions

STYLE_LIMIT = 8 * 1024
"""Gmail ignores a whole <style> block when it is too big; 8 KB keeps clear of every limit."""


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
    yield from email.sheet.at_rules


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
