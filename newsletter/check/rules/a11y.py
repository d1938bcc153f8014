"""Accessibility rules, all errors: lang and dir, heading order, layout tables, contrast in the
light and dark schemes (and under forced inversion), body font size, pure black text."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from newsletter import colors
from newsletter.check.base import ERROR, Email, Finding, normalise, visible_text
from newsletter.check.cascade import Scheme, dark, light, text_elements
from newsletter.check.rules import rule
from newsletter.load.lines import heading_text
from newsletter.model import Article, Issue, Testimonial

MIN_FONT_PX = 14.0


@rule
def _colours(email: Email) -> list[Finding]:
    """Contrast in both schemes and under inversion, font size, pure black: one registration,
    since they share the computed style of every text element."""
    light_scheme, dark_scheme = light(email), dark(email)
    light_pairs = _pairs(email, light_scheme)
    return [
        *_contrast(email, light_pairs, "light"),
        *(_contrast(email, _pairs(email, dark_scheme), "dark") if dark_scheme.overrides else []),
        *_inverted(email, light_pairs),
        *_font_size(email, light_scheme),
        *_black(email, light_scheme),
    ]


def _label(element: etree._Element) -> str:
    cls = element.get("class")
    return f'<{element.tag} class="{cls}">' if cls else f"<{element.tag}>"


# --- rules ------------------------------------------------------------------------------------


@rule
def _lang(email: Email) -> list[Finding]:
    root = email.tree
    where = email.in_templates("<html") or email.at(root)
    out = []
    if not (root.get("lang") or "").strip():
        out.append(
            email.finding(
                "lang",
                ERROR,
                where,
                "the <html> element has no lang; screen readers guess the language and "
                "mispronounce every word",
                'set [newsletter] language and keep <html lang="{{ config.language }}">',
            )
        )
    if not (root.get("dir") or "").strip():
        out.append(
            email.finding(
                "dir",
                ERROR,
                where,
                "the <html> element has no dir; right-to-left readers and some clients need it",
                'keep <html dir="{{ config.direction }}"> in templates/email.html',
            )
        )
    return out


@rule
def _headings(email: Email) -> list[Finding]:
    out = []
    previous = 0
    for element in email.body.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        if email.is_hidden(element):
            continue
        level = int(element.tag[1])
        text = " ".join("".join(map(str, element.itertext())).split())
        if previous == 0 and level != 1:
            out.append(
                email.finding(
                    "heading-order",
                    ERROR,
                    _heading_where(email, text, element),
                    f"the first heading is <h{level}> '{text}'; the outline must start at <h1>",
                    "keep the newsletter's title as the <h1> in templates/email.html",
                )
            )
        elif level > previous + 1 and previous:
            out.append(
                email.finding(
                    "heading-order",
                    ERROR,
                    _heading_where(email, text, element),
                    f"heading '{text}' jumps from level {previous} to {level}; screen-reader "
                    "users navigate by headings and miss the gap",
                    f"make it one level below the heading before it (## after an article "
                    f"title, ### under a ## section); here: level {previous + 1}",
                )
            )
        previous = level
    return out


def _heading_where(email: Email, text: str, element: etree._Element) -> tuple[str, int]:
    """The Markdown heading with these words, else a template or content line holding them."""
    issue = email.rendered.issue
    wanted = normalise(" ".join(text.split())).lower()
    records: tuple[Issue | Article | Testimonial, ...] = (
        issue,
        *issue.articles,
        *issue.testimonials,
    )
    for record in records:
        for block in record.blocks:
            if block.kind == "heading" and normalise(heading_text(block)).lower() == wanted:
                return record.path, block.line
    return email.locate(text, element=element)


@rule
def _tables(email: Email) -> list[Finding]:
    out = []
    for table in email.elements("table"):
        role = (table.get("role") or "").lower()
        if role in ("presentation", "none"):
            continue
        data = (
            "md" in (table.get("class") or "").split()
            or table.find(".//th") is not None
            or table.find(".//caption") is not None
        )
        if data:
            continue
        out.append(
            email.finding(
                "layout-table",
                ERROR,
                email.at(table),
                'a layout table lacks role="presentation"; screen readers announce its rows '
                "and columns",
                'add role="presentation" to every table used for layout',
            )
        )
    return out


@dataclass(frozen=True)
class _Pair:
    fg: str
    bg: str
    large: bool


def _pairs(email: Email, scheme: Scheme) -> dict[_Pair, list[etree._Element]]:
    pairs: dict[_Pair, list[etree._Element]] = {}
    for element in text_elements(email):
        size = scheme.font_size(element)
        large = size >= 24 or (size >= 18.66 and scheme.bold(element))
        pair = _Pair(scheme.colour(element), scheme.background(element), large)
        pairs.setdefault(pair, []).append(element)
    return pairs


def _contrast(email: Email, pairs: dict[_Pair, list[etree._Element]], name: str) -> list[Finding]:
    out = []
    for pair, elements in pairs.items():
        need = colors.AA_LARGE if pair.large else colors.AA_NORMAL
        ratio = colors.contrast(pair.fg, pair.bg)
        if ratio >= need:
            continue
        first = elements[0]
        where = email.locate(visible_text(first)[:60], element=first)
        out.append(
            email.finding(
                "contrast",
                ERROR,
                where,
                f"{name} scheme: text {pair.fg} on {pair.bg} has contrast {ratio:.2f}:1, under "
                f"WCAG AA {need}:1 ({len(elements)} element{'s' if len(elements) > 1 else ''}, "
                f"first {_label(first)})",
                "darken the text or lighten the background (brand colours in "
                "content/newsletter.toml [brand]; dark-scheme rules in templates/email-head.css)",
            )
        )
    return out


def _inverted(email: Email, pairs: dict[_Pair, list[etree._Element]]) -> list[Finding]:
    """Clients that force dark mode by inverting (some Outlook and Gmail apps) flip colours."""
    out = []
    pure = {"#000000", "#ffffff"}
    for pair, elements in pairs.items():
        if pair.fg not in pure and pair.bg not in pure:
            continue
        fg = colors.invert(colors.parse_hex(pair.fg))
        bg = colors.invert(colors.parse_hex(pair.bg))
        need = colors.AA_LARGE if pair.large else colors.AA_NORMAL
        ratio = colors.contrast(fg, bg)
        if ratio >= need:
            continue
        out.append(
            email.finding(
                "contrast",
                ERROR,
                email.at(elements[0]),
                f"inverted colours: text {pair.fg} on {pair.bg} becomes contrast {ratio:.2f}:1 "
                f"in clients that invert for dark mode (first {_label(elements[0])})",
                "avoid pure black and white; use the brand's near-black and off-white",
            )
        )
    return out


def _font_size(email: Email, light: Scheme) -> list[Finding]:
    small: dict[float, list[etree._Element]] = {}
    for element in text_elements(email):
        size = light.font_size(element)
        if size < MIN_FONT_PX - 0.01:
            small.setdefault(round(size, 1), []).append(element)
    out = []
    for size, elements in sorted(small.items()):
        first = elements[0]
        out.append(
            email.finding(
                "font-size",
                ERROR,
                email.at(first),
                f"text at {size:g} px is too small to read on a phone ({len(elements)} "
                f"element{'s' if len(elements) > 1 else ''}, first {_label(first)})",
                f"use at least {MIN_FONT_PX:g} px for text (templates/email.css)",
            )
        )
    return out


def _black(email: Email, light: Scheme) -> list[Finding]:
    for element in text_elements(email):
        if light.colour(element) == "#000000":
            return [
                email.finding(
                    "pure-black",
                    ERROR,
                    email.at(element),
                    f"pure black text ({_label(element)}); dark modes invert it harshly and it "
                    "glares on white",
                    "set a near-black colour such as #26302c (brand text)",
                )
            ]
    return []
