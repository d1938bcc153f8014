"""vCard files (.vcf: Apple Contacts, Google and Outlook's vCard export) into contacts."""

from __future__ import annotations

import re
from typing import Any

import vobject

from newsletter.errors import NewsletterError
from newsletter.mail.importers.contact import Contact, Contacts

_BEGIN = re.compile(r"^BEGIN:VCARD\s*$", re.IGNORECASE | re.MULTILINE)


def looks_like_vcard(text: str) -> bool:
    return text.lstrip().upper().startswith("BEGIN:VCARD")


def _value(card: vobject.base.Component, key: str) -> Any:
    """The value of the card's first `key` line, or None (vobject types lines loosely)."""
    lines = card.contents.get(key)
    return getattr(lines[0], "value", None) if lines else None


def _name(card: vobject.base.Component) -> str:
    formatted = _value(card, "fn")
    if formatted and str(formatted).strip():
        return str(formatted)
    n = _value(card, "n")
    if n is not None:
        return f"{n.given} {n.family}" if hasattr(n, "given") else str(n)
    return ""


def read_vcard(text: str, *, path: str) -> Contacts:
    """One contact per card, with its first address (vCard keeps the order the app shows)."""
    starts = [text.count("\n", 0, m.start()) + 1 for m in _BEGIN.finditer(text)]
    contacts = Contacts(format="vCard", header_line=1)
    try:
        for index, card in enumerate(vobject.readComponents(text)):
            line = starts[index] if index < len(starts) else 0
            email = str(_value(card, "email") or "").strip()
            contacts.records.append(Contact(line, email, _name(card)))
    except (vobject.base.ParseError, ValueError, TypeError) as exc:
        done = len(contacts.records)
        line = starts[done] if done < len(starts) else 1
        reason = re.sub(r"^At line \d+: ", "", str(exc))
        raise NewsletterError.single(
            path, f"this contact card is not readable: {reason}", line
        ) from None
    if not contacts.records:
        raise NewsletterError.single(path, "no contact cards (BEGIN:VCARD) in the file", 1)
    return contacts
