"""Computed style: each element's colour, background, font size and weight as a reader sees
them, in the light scheme (inline styles) or the dark one (plus the kept block's
prefers-color-scheme rules), and the elements that hold visible text.

Several rule families read the same computed values, so each scheme is worked out once per
check (`light`, `dark`), and each value once per element: a child asks its parent's value
instead of walking all its ancestors again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from lxml import etree
from lxml.cssselect import CSSSelector, SelectorError

from newsletter import colors
from newsletter.check.base import Email
from newsletter.check.stylesheet import split_selectors

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
ROOT_FONT_PX = 16.0

Overrides = dict[etree._Element, dict[str, tuple[str, bool]]]
V = TypeVar("V")


@functools.lru_cache(maxsize=1024)
def parse_colour(value: str | None) -> str | None:
    """#rrggbb for a CSS colour we can evaluate; None for transparent, inherit, unknown.
    Remembered by value: an email uses a handful of colours on every element."""
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


def own_background(declared: Mapping[str, str], element: etree._Element) -> str | None:
    """The background an element paints itself, from its declarations or its bgcolor."""
    colour = parse_colour(declared.get("background-color"))
    if colour is None and "background" in declared:
        for token in reversed(declared["background"].split()):
            colour = parse_colour(token)
            if colour:
                break
    if colour is None and "background-color" not in declared:
        colour = parse_colour(element.get("bgcolor"))
    return colour


def font_px(value: str, parent: float) -> float:
    """A font-size declaration in px, relative units against the parent's size."""
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


def _own_weight(declared: Mapping[str, str], element: etree._Element) -> bool | None:
    """Bold or not by the element itself; None when it leaves that to its parent."""
    weight = declared.get("font-weight", "").strip().lower()
    if weight:
        return weight in ("bold", "bolder") or (weight.isdigit() and int(weight) >= 600)
    if element.tag in BOLD_TAGS:
        return True
    return None


def _own_colour(declared: Mapping[str, str], element: etree._Element) -> str | None:
    colour = parse_colour(declared.get("color"))
    if colour is None and element.tag == "font":
        colour = parse_colour(element.get("color"))
    return colour


def inherited(
    element: etree._Element,
    memo: dict[etree._Element, V],
    own: Callable[[etree._Element], V | None],
    default: V,
) -> V:
    """The first value the element or an ancestor sets itself (`own`), else the default.
    Every element passed on the way keeps the answer in `memo`, so its children stop there."""
    pending: list[etree._Element] = []
    node: etree._Element | None = element
    value = default
    while node is not None:
        known = memo.get(node)
        if known is not None:
            value = known
            break
        mine = own(node)
        if mine is not None:
            value = mine
            break
        pending.append(node)
        node = node.getparent()
    if node is not None:
        memo[node] = value
    for waiting in pending:
        memo[waiting] = value
    return value


class Scheme:
    """Computed colour, background and font size of elements, in the light or dark scheme.

    Each value is kept per element; an element's inherited value is its parent's."""

    def __init__(self, email: Email, *, dark: bool, overrides: Overrides | None = None) -> None:
        self.email = email
        self.dark = dark
        self.overrides: Overrides = overrides or {}
        self._declared: dict[etree._Element, Mapping[str, str]] = {}
        self._colour: dict[etree._Element, str] = {}
        self._background: dict[etree._Element, str] = {}
        self._bold: dict[etree._Element, bool] = {}
        self._size: dict[etree._Element, float] = {}

    def declared(self, element: etree._Element) -> Mapping[str, str]:
        """Inline declarations, with this scheme's rules for the element over them."""
        cached = self._declared.get(element)
        if cached is not None:
            return cached
        out = self.email.style(element)
        extra = self.overrides.get(element)
        if extra:
            merged = dict(out)
            for name, (value, important) in extra.items():
                if important or name not in merged:
                    merged[name] = value
            out = merged
        self._declared[element] = out
        return out

    def colour(self, element: etree._Element) -> str:
        return inherited(element, self._colour, self._own(_own_colour), "#000000")

    def background(self, element: etree._Element) -> str:
        return inherited(element, self._background, self._own(own_background), "#ffffff")

    def bold(self, element: etree._Element) -> bool:
        return inherited(element, self._bold, self._own(_own_weight), False)

    def _own(
        self, own: Callable[[Mapping[str, str], etree._Element], V | None]
    ) -> Callable[[etree._Element], V | None]:
        return lambda node: own(self.declared(node), node)

    def font_size(self, element: etree._Element) -> float:
        """In px: the root's 16 px, each element down to this one applying its font-size."""
        pending: list[etree._Element] = []
        node: etree._Element | None = element
        size = ROOT_FONT_PX
        while node is not None:
            known = self._size.get(node)
            if known is not None:
                size = known
                break
            pending.append(node)
            node = node.getparent()
        for waiting in reversed(pending):
            value = self.declared(waiting).get("font-size", "").strip().lower()
            size = font_px(value, size)
            self._size[waiting] = size
        return size


@functools.lru_cache(maxsize=1024)
def _selector(text: str) -> CSSSelector | None:
    """A selector compiled to XPath once; None for one cssselect cannot read."""
    try:
        return CSSSelector(text)
    except (SelectorError, ValueError, TypeError):
        return None


def dark_overrides(email: Email) -> Overrides:
    """What the kept block's prefers-color-scheme: dark rules set on each element they match;
    !important beats an earlier rule, otherwise the first rule to set a property wins."""
    overrides: Overrides = {}
    for style_rule in email.sheet.rules:
        if not any("prefers-color-scheme" in a and "dark" in a for a in style_rule.at_rules):
            continue
        for selector in split_selectors(style_rule.selector):
            compiled = _selector(selector)
            if compiled is None:
                continue
            try:
                matched = compiled(email.tree)
            except (SelectorError, ValueError, TypeError):
                continue
            for element in matched if isinstance(matched, list) else ():
                if not isinstance(element, etree._Element):
                    continue
                target = overrides.setdefault(element, {})
                for d in style_rule.declarations:
                    if d.important or d.name not in target:
                        target[d.name] = (d.value, d.important)
    return overrides


def _light(email: Email) -> Scheme:
    return Scheme(email, dark=False)


def _dark(email: Email) -> Scheme:
    return Scheme(email, dark=True, overrides=dark_overrides(email))


def light(email: Email) -> Scheme:
    """The light scheme of this check's email, shared by every rule."""
    return email.shared(_light)


def dark(email: Email) -> Scheme:
    """The dark scheme of this check's email, shared by every rule."""
    return email.shared(_dark)


def _text_elements(email: Email) -> list[etree._Element]:
    out = []
    for element in email.body.iter():
        if not isinstance(element.tag, str) or element.tag in SKIP:
            continue
        own = (element.text or "") + "".join((child.tail or "") for child in element)
        if not own.replace("\xa0", " ").replace("\u200c", "").strip():
            continue
        if email.is_hidden(element):
            continue
        out.append(element)
    return out


def text_elements(email: Email) -> list[etree._Element]:
    """Elements that hold visible text of their own (text or a child's tail), not hidden,
    in document order (read only: shared by every rule)."""
    return email.shared(_text_elements)
