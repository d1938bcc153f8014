"""vCard files (.vcf: Apple Contacts, Google and Outlook's vCard export) into contacts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from newsletter.errors import NewsletterError
from newsletter.mail.importers.contact import Contact, Contacts

_BEGIN = re.compile(r"BEGIN:VCARD\s*", re.IGNORECASE)
_END = re.compile(r"END:VCARD\s*", re.IGNORECASE)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


_LEADING_SPACE = re.compile(r"\s*")
_BEGIN_VCARD = "BEGIN:VCARD"


def looks_like_vcard(text: str) -> bool:
    """Whether the text, past leading white space, starts with BEGIN:VCARD in any case.

    Only the first characters are looked at (the file is not copied): upper-casing never
    shortens a character, so they decide how the upper-cased text starts.
    """
    start = _LEADING_SPACE.match(text).end()  # type: ignore[union-attr]
    return text[start : start + len(_BEGIN_VCARD)].upper().startswith(_BEGIN_VCARD)


def _cards(text: str) -> Iterator[tuple[int, str]]:
    """(line of BEGIN:VCARD, the card's text) for each top-level card; nested ones stay inside."""
    depth, start = 0, 0
    lines: list[str] = []
    for number, match in enumerate(_LINE.finditer(text), 1):
        line = match.group()
        if _BEGIN.fullmatch(line):
            if depth == 0:
                start, lines = number, []
            depth += 1
        if depth:
            lines.append(line)
        if depth and _END.fullmatch(line):
            depth -= 1
            if depth == 0:
                yield start, "".join(lines)
    if depth:
        yield start, "".join(lines)


def _value(card: Any, key: str) -> Any:
    """The value of the card's first `key` line, or None (vobject types lines loosely)."""
    lines = getattr(card, "contents", {}).get(key)
    return getattr(lines[0], "value", None) if lines else None


def _name(card: Any) -> str:
    formatted = _value(card, "fn")
    if formatted and str(formatted).strip():
        return str(formatted)
    n = _value(card, "n")
    if n is not None:
        return f"{n.given} {n.family}" if hasattr(n, "given") else str(n)
    return ""


def read_vcard(text: str, *, path: str) -> Contacts:
    """One contact per card, with its first address (vCard keeps the order the app shows).

    A card vobject cannot read is reported at its line, and the other cards still count.
    """
    import vobject  # 120 ms to import: only when the file is a vCard

    records: list[Contact] = []
    contacts = Contacts(format="vCard", header_line=1, records=records)
    for line, card_text in _cards(text):
        try:
            card = vobject.readOne(card_text)
        except (vobject.base.ParseError, ValueError, TypeError, AttributeError) as exc:
            reason = re.sub(r"^At line \d+: ", "", str(exc)) or type(exc).__name__
            contacts.unreadable.append((line, f"this contact card is not readable: {reason}"))
            continue
        email = str(_value(card, "email") or "").strip()
        records.append(Contact(line, email, _name(card)))
    if not records and not contacts.unreadable:
        raise NewsletterError.single(path, "no contact cards (BEGIN:VCARD) in the file", 1)
    return contacts
