"""Accessibility rules, all errors: lang and dir, heading order, layout tables, contrast in the
light and dark schemes (and under forced inversion), body font size, pure black text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree
from lxml.cssselect import CSSSelector, SelectorError

from newsletter import colors
from newsletter.check.base import ERROR, Email, Finding, is_hidden, normalise, visible_text
from newsletter.check.rules import rule
from newsletter.check.rules.css import parse_css, split_selectors, style_of
from newsletter.load.lines import heading_text
from newsletter.model import Article, Issue, Testimonial

MIN_FONT_PX = 14.0
NAMED = {
    "black": "#000000",
    "white": "#ffffff",
    "red": "#ff0000",
    "green": "#008000",
    "blue": "#0000ff",
    "gray": "#808080",
    "grey": "#808080",
    "silver": "#c0c0c0",
    "navy": "#000080",
    "yellow": "#ffff00",
    "orange": "#ffa500",
}
BOLD_TAGS = {"b", "strong", "th", "h1", "h2", "h3", "h4", "h5", "h6"}
SKIP = {"head", "style", "script", "title", "meta"}


@rule
def _colours(email: Email) -> list[Finding]:
    """Contrast in both schemes and under inversion, font size, pure black: one registration,
    since they share the computed style of every text element."""
    light = Scheme(email, dark=False)
    dark = Scheme(email, dark=True)
    return [
        *_contrast(email, light, "light"),
        *(_contrast(email, dark, "dark") if dark.overrides else []),
        *_inverted(email, light),
        *_font_size(email, light),
        *_black(email, light),
    ]


# --- colours and computed style -------------------------------------------------------------


def parse_colour(value: str | None) -> str | None:
    """#rrggbb for a CSS colour we can evaluate; None for transparent, inherit, unknown."""
    if not value:
        return None
    value = value.strip().lower()
    if value in NAMED:
        return NAMED[value]
    if colors.is_hex(value):
        r, g, b = colors.parse_hex(value)
        return f"#{r:02x}{g:02x}{b:02x}"
    m = re.match(r"rgba?\(\s*(\d+)[\s,]+(\d+)[\s,]+(\d+)\s*(?:[,/]\s*([\d.]+%?)\s*)?\)$", value)
    if m:
        alpha = m.group(4)
        if alpha is not None:
            a = float(alpha.rstrip("%")) / (100 if alpha.endswith("%") else 1)
            if a < 1:
                return None
        r, g, b = (min(255, int(x)) for x in m.groups()[:3])
        return f"#{r:02x}{g:02x}{b:02x}"
    return None


def _background(declared: dict[str, str], element: etree._Element) -> str | None:
    colour = parse_colour(declared.get("background-color"))
    if colour is None and "background" in declared:
        for token in reversed(declared["background"].split()):
            colour = parse_colour(token)
            if colour:
                break
    if colour is None and "background-color" not in declared:
        colour = parse_colour(element.get("bgcolor"))
    return colour


class Scheme:
    """Computed colour, background and font size of elements, in the light or dark scheme."""

    def __init__(self, email: Email, *, dark: bool) -> None:
        self.email = email
        self.dark = dark
        self.overrides: dict[etree._Element, dict[str, tuple[str, bool]]] = {}
        if dark:
            self._apply_dark(email)
        self._declared: dict[etree._Element, dict[str, str]] = {}

    def _apply_dark(self, email: Email) -> None:
        sheet = parse_css(email.kept_css)
        for style_rule in sheet.rules:
            if not any("prefers-color-scheme" in a and "dark" in a for a in style_rule.at_rules):
                continue
            for selector in split_selectors(style_rule.selector):
                try:
                    matched = CSSSelector(selector)(email.tree)
                except (SelectorError, ValueError, TypeError):
                    continue
                for element in matched if isinstance(matched, list) else ():
                    if not isinstance(element, etree._Element):
                        continue
                    target = self.overrides.setdefault(element, {})
                    for d in style_rule.declarations:
                        if d.important or d.name not in target:
                            target[d.name] = (d.value, d.important)

    def declared(self, element: etree._Element) -> dict[str, str]:
        cached = self._declared.get(element)
        if cached is not None:
            return cached
        out = style_of(element)
        for name, (value, important) in self.overrides.get(element, {}).items():
            if important or name not in out:
                out[name] = value
        self._declared[element] = out
        return out

    def _chain(self, element: etree._Element) -> Iterator[etree._Element]:
        yield element
        yield from element.iterancestors()

    def colour(self, element: etree._Element) -> str:
        for node in self._chain(element):
            colour = parse_colour(self.declared(node).get("color"))
            if colour is None and node.tag == "font":
                colour = parse_colour(node.get("color"))
            if colour:
                return colour
        return "#000000"

    def background(self, element: etree._Element) -> str:
        for node in self._chain(element):
            colour = _background(self.declared(node), node)
            if colour:
                return colour
        return "#ffffff"

    def font_size(self, element: etree._Element) -> float:
        chain = list(self._chain(element))
        size = 16.0
        for node in reversed(chain):
            value = self.declared(node).get("font-size", "").strip().lower()
            size = _size(value, size)
        return size

    def bold(self, element: etree._Element) -> bool:
        for node in self._chain(element):
            weight = self.declared(node).get("font-weight", "").strip().lower()
            if weight:
                return weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600)
            if node.tag in BOLD_TAGS:
                return True
        return False


def _size(value: str, parent: float) -> float:
    m = re.match(r"^([\d.]+)(px|pt|em|rem|%)?$", value)
    if not m:
        return parent
    number, unit = float(m.group(1)), m.group(2) or "px"
    return {
        "px": number,
        "pt": number * 4 / 3,
        "em": number * parent,
        "rem": number * 16,
        "%": number * parent / 100,
    }[unit]


def text_elements(email: Email) -> Iterator[etree._Element]:
    """Elements that hold visible text of their own (text or a child's tail), not hidden."""
    for element in email.body.iter():
        if not isinstance(element.tag, str) or element.tag in SKIP:
            continue
        own = (element.text or "") + "".join((child.tail or "") for child in element)
        if not own.replace("\xa0", " ").replace("\u200c", "").strip():
            continue
        if is_hidden(element):
            continue
        yield element


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
        if is_hidden(element):
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


def _contrast(email: Email, scheme: Scheme, name: str) -> list[Finding]:
    out = []
    for pair, elements in _pairs(email, scheme).items():
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


def _inverted(email: Email, light: Scheme) -> list[Finding]:
    """Clients that force dark mode by inverting (some Outlook and Gmail apps) flip colours."""
    out = []
    pure = {"#000000", "#ffffff"}
    for pair, elements in _pairs(email, light).items():
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
