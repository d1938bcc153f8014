"""Layout rules: what makes the email scroll sideways on a phone, lose text in a dark mode, or
hide where a button goes. Each finding points at the content line that caused it, found
through the Markdown text, or at the template when the template is the cause.

The rendered HTML carries no content lines, so a rule finds the words of the offending element
in the content files (Email.locate), as the other rule families do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from lxml import etree

from newsletter import colors
from newsletter.check.base import ERROR, WARNING, Email, Finding, visible_text
from newsletter.check.cascade import (
    Scheme,
    dark,
    inherited,
    light,
    parse_colour,
    text_elements,
)
from newsletter.check.rules import rule

PHONE_WIDTH = 320
"""The narrowest phone the layout holds on (iPhone SE, small Android)."""
PHONE_COLUMN = PHONE_WIDTH - 2 * 18
"""Text column at that width: the card's phone padding is 18 px a side."""
CHAR_WIDTH = 0.55
"""Average advance of a Helvetica or Arial character, in em."""
MONO_WIDTH = 0.6
"""Advance of a Menlo or Consolas character, in em."""
MAX_PHONE_COLUMNS = 4
"""More table columns than this squeeze to under 70 px each on a phone."""
BUTTON_CONTRAST = 3.0
"""WCAG 1.4.11: a user-interface component against what surrounds it."""
BREAKING = (("word-wrap", "break-word"), ("overflow-wrap", "anywhere"))
"""Inline, in this order: Yahoo honours only word-wrap; in Chromium a later word-wrap would
cancel overflow-wrap: anywhere."""
NO_COLOUR_OF_THEIR_OWN = {"a", "span", "strong", "b", "em", "i", "u", "sup", "sub", "abbr"}
"""Inline elements that clients do not paint; they inherit their block's colours (<code> is
not one: Roundcube paints it pink)."""


@rule
def check_long_words(email: Email) -> list[Finding]:
    """A word or address wider than a phone's column breaks mid-word, or widens the card."""
    out: list[Finding] = []
    seen: set[str] = set()
    scheme = light(email)
    monospace = _Monospace(email)
    for element in text_elements(email):
        size = scheme.font_size(element)
        mono = monospace(element)
        limit = int(PHONE_COLUMN / (size * (MONO_WIDTH if mono else CHAR_WIDTH)))
        for word in _own_words(element):
            if len(word) <= limit or word in seen or (mono and not _in_card(element)):
                continue
            seen.add(word)
            out.append(_long_word(email, element, word, limit))
    return out


def _long_word(email: Email, element: etree._Element, word: str, limit: int) -> Finding:
    where = email.locate(word[:60], element=element)
    shown = word if len(word) <= 40 else word[:37] + "..."
    if _breaks(element):
        return email.finding(
            "long-word",
            WARNING,
            where,
            f"'{shown}' ({len(word)} characters) is wider than a {PHONE_WIDTH} px phone's "
            f"column (about {limit} characters): it breaks mid-word there",
            "give a link words that say where it goes ('the booking page') instead of its "
            "address; shorten or hyphenate a long word",
        )
    return email.finding(
        "long-word",
        ERROR,
        where,
        f"'{shown}' ({len(word)} characters) cannot break, so it widens the card on a "
        f"{PHONE_WIDTH} px phone and every paragraph scrolls sideways",
        "keep `word-wrap: break-word; overflow-wrap: anywhere` (in that order) on .card, "
        ".masthead and .footer in templates/email.css",
    )


@rule
def check_wide_blocks(email: Email) -> list[Finding]:
    """Tables with many columns and long code lines: held in their box, but cramped."""
    out: list[Finding] = []
    for table in email.elements("table"):
        if "md" not in (table.get("class") or "").split():
            continue
        row = table.find(".//tr")
        columns = 0 if row is None else len(row.findall("th")) + len(row.findall("td"))
        if columns > MAX_PHONE_COLUMNS:
            out.append(_wide_table(email, table, row, columns))
    for block in email.elements("div"):
        if "code" in (block.get("class") or "").split():
            out.extend(_wide_code(email, block))
    return out


def _wide_table(
    email: Email, table: etree._Element, row: etree._Element | None, columns: int
) -> Finding:
    cells = [visible_text(c) for c in (row if row is not None else [])]
    needle = re.compile(r"^\s*\|?\s*" + r"\s*\|\s*".join(re.escape(c) for c in cells[:3]))
    width = PHONE_COLUMN // columns
    return email.finding(
        "wide-block",
        WARNING,
        email.locate(needle, element=table),
        f"a {columns}-column table squeezes to about {width} px a column on a {PHONE_WIDTH} px "
        "phone; its words break mid-word there",
        f"keep tables to {MAX_PHONE_COLUMNS} columns, or split this one, or use a list",
    )


def _wide_code(email: Email, block: etree._Element) -> list[Finding]:
    limit = int(PHONE_COLUMN / (15 * MONO_WIDTH))
    long = [line for line in _code_lines(block) if len(line) > limit]
    if not long:
        return []
    return [
        email.finding(
            "wide-block",
            WARNING,
            email.locate(long[0].strip()[:60], element=block),
            f"a code line of {len(long[0])} characters wraps on a {PHONE_WIDTH} px phone "
            f"(about {limit} fit); {len(long)} line{'s' if len(long) > 1 else ''} in this block",
            f"keep code lines under {limit} characters, or show the code as a link",
        )
    ]


def _code_lines(block: etree._Element) -> list[str]:
    """The lines of a code block (joined by <br>), non-breaking spaces read as spaces."""
    lines, current = [], ""
    for node in block.iter():
        if node is not block and node.tag == "br":
            lines.append(current)
            current = ""
        elif node.text and node.tag != "br":
            current += node.text
        if node is not block and node.tail:
            current += node.tail
    lines.append(current)
    return [line.replace("\xa0", " ") for line in lines]


@rule
def check_dark_rules(email: Email) -> list[Finding]:
    """Every element with a colour of its own needs a dark-scheme colour, or it stays light."""
    dark_scheme = dark(email)
    if not dark_scheme.overrides:
        return []
    out: list[Finding] = []
    reported: set[str] = set()
    for element in text_elements(email):
        own = email.style(element)
        if "color" not in own or element.tag in NO_COLOUR_OF_THEIR_OWN:
            continue
        if "color" in dark_scheme.overrides.get(element, {}):
            continue
        label = _label(element)
        if label in reported:
            continue
        reported.add(label)
        out.append(
            email.finding(
                "dark-rule",
                ERROR,
                email.locate(visible_text(element)[:60], element=element),
                f"{label} keeps its light colour {own['color']} in dark mode: no "
                "prefers-color-scheme rule covers it, so it sits on the dark card "
                f"at {colors.contrast(_hex(own['color']), _dark_card(email, dark_scheme)):.1f}:1",
                f"add {_selector(element)} to the dark-mode rules in templates/email-head.css, "
                "or use a heading level the template styles",
            )
        )
    return out


@rule
def check_painted(email: Email) -> list[Finding]:
    """An element with a colour but no background of its own (or the reverse) turns dark on
    dark when a webmail dark mode paints it (Roundcube paints <blockquote>)."""
    out: list[Finding] = []
    reported: set[str] = set()
    for element in email.body.iter():
        if not isinstance(element.tag, str) or element.tag in NO_COLOUR_OF_THEIR_OWN:
            continue
        own = email.style(element)
        has_colour = "color" in own
        has_background = "background-color" in own or "background" in own
        if has_colour == has_background or email.is_hidden(element):
            continue
        label = _label(element)
        if label in reported:
            continue
        reported.add(label)
        missing = "background-color" if has_colour else "color"
        out.append(
            email.finding(
                "painted",
                ERROR,
                _template_of(email, element),
                f"{label} sets its {'colour' if has_colour else 'background'} but not its "
                f"{missing}; a client that paints one of them leaves text unreadable",
                f"give {_selector(element)} a {missing} too (templates/email.css), and the "
                "same pair in the dark rules",
            )
        )
    return out


@rule
def check_buttons(email: Email) -> list[Finding]:
    """A button needs 3:1 against the card around it, in light, dark and inverted colours."""
    light_scheme, dark_scheme = light(email), dark(email)
    schemes: list[tuple[str, Callable[[etree._Element, bool], str]]] = [
        ("light", lambda e, own: _bg(light_scheme, e, own)),
        ("dark", lambda e, own: _bg(dark_scheme, e, own)),
        ("inverted", lambda e, own: _inverted(_bg(light_scheme, e, own))),
    ]
    out: list[Finding] = []
    for button in _buttons(email):
        for name, background in schemes:
            fill, around = background(button, True), background(button, False)
            ratio = colors.contrast(fill, around)
            if ratio >= BUTTON_CONTRAST:
                continue
            out.append(
                email.finding(
                    "button-contrast",
                    ERROR,
                    email.in_templates('class="button-cell"') or email.at(button),
                    f"{name} scheme: the booking button {fill} on the card {around} has "
                    f"contrast {ratio:.2f}:1; a button needs {BUTTON_CONTRAST:g}:1 (WCAG 1.4.11)",
                    "choose a [brand] accent (light) or accent_dark (dark) that stands out "
                    "from the card; dark-mode button rules are in templates/email-head.css",
                )
            )
            break
    return out


@rule
def check_anchors(email: Email) -> list[Finding]:
    """No in-document #anchor links (Gmail's apps and Samsung Email drop them) and no class
    or id on <body> (Roundcube's own class on it would be overwritten)."""
    out: list[Finding] = []
    for link in email.elements("a"):
        if (link.get("href") or "").startswith("#"):
            text = visible_text(link)
            out.append(
                email.finding(
                    "anchor-link",
                    ERROR,
                    email.locate(text, element=link),
                    f"the link '{text}' jumps within the email; Gmail's apps and Samsung "
                    "Email do not follow in-document links",
                    "link to a web page, or write the note out where it belongs",
                )
            )
    body = email.tree.find("body")
    if body is not None and (body.get("class") is not None or body.get("id") is not None):
        out.append(
            email.finding(
                "body-attribute",
                ERROR,
                email.in_templates("<body") or email.at(body),
                "<body> has a class or id: Roundcube replaces <body> with a <div> of its own "
                "class, which this overwrites, and then ignores the whole <style> block",
                "put no class or id on <body>; hang styles on the wrapper (.email)",
            )
        )
    return out


# --- helpers ----------------------------------------------------------------------------------


def _own_words(element: etree._Element) -> Iterator[str]:
    text = (element.text or "") + "".join(child.tail or "" for child in element)
    if element.tag == "a":
        text = visible_text(element)
    yield from text.replace("\xa0", " ").split()
    for child in element:
        if child.tag == "a" and isinstance(child.tag, str):
            yield from visible_text(child).split()


class _Monospace:
    """Whether an element is set in a monospace font: <code>, or a font-family naming
    monospace, on it or an ancestor (kept per element: a child asks its parent)."""

    def __init__(self, email: Email) -> None:
        self.email = email
        self.known: dict[etree._Element, bool] = {}

    def __call__(self, element: etree._Element) -> bool:
        return inherited(element, self.known, self._own, False)

    def _own(self, node: etree._Element) -> bool | None:
        mono = node.tag == "code" or "monospace" in self.email.style(node).get("font-family", "")
        return True if mono else None


def _in_card(element: etree._Element) -> bool:
    return any("card" in (n.get("class") or "").split() for n in element.iterancestors())


def _breaks(element: etree._Element) -> bool:
    """Some element from here up declares the breaking pair inline, in the right order."""
    for node in (element, *element.iterancestors()):
        style = (node.get("style") or "").replace(" ", "").lower()
        positions = [style.find(f"{name}:{value}") for name, value in BREAKING]
        if all(p >= 0 for p in positions) and positions == sorted(positions):
            return True
    return False


def _buttons(email: Email) -> Iterator[etree._Element]:
    for link in email.elements("a"):
        if "button" in (link.get("class") or "").split():
            yield link


def _bg(scheme: Scheme, button: etree._Element, own: bool) -> str:
    """The button's own fill, or the background around its cell."""
    if own:
        return scheme.background(button)
    cell = next((n for n in button.iterancestors() if n.tag == "td"), None)
    if cell is None:
        return "#ffffff"
    table = next((n for n in cell.iterancestors() if n.tag == "table"), None)
    parent = table.getparent() if table is not None else None
    return scheme.background(parent) if parent is not None else "#ffffff"


def _inverted(colour: str) -> str:
    r, g, b = colors.invert(colors.parse_hex(colour))
    return f"#{r:02x}{g:02x}{b:02x}"


def _hex(value: str) -> str:
    return parse_colour(value) or "#000000"


def _dark_card(email: Email, dark: Scheme) -> str:
    card = next((e for e in email.elements("td") if "card" in (e.get("class") or "")), None)
    return dark.background(card) if card is not None else email.config.brand.dark_surface


def _label(element: etree._Element) -> str:
    cls = element.get("class")
    return f'<{element.tag} class="{cls}">' if cls else f"<{element.tag}>"


def _selector(element: etree._Element) -> str:
    cls = (element.get("class") or "").split()
    return f".card .{cls[0]}" if cls else f".card {element.tag}"


def _template_of(email: Email, element: etree._Element) -> tuple[str, int]:
    cls = (element.get("class") or "").split()
    needles = ([f".{cls[0]} "] if cls else []) + [f".card {element.tag} "]
    for needle in needles:
        hit = email.in_templates(needle)
        if hit:
            return hit
    return email.at(element)
