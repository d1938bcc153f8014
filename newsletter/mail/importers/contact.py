"""What every reader gives back: one contact per record, before any validation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple


class Contact(NamedTuple):
    """One record of the export: `line` is where it starts; `email` is its first address.

    `status` is what the export says about the person (active, unsubscribed, bounced,
    complained); `consent` is the consent cell (None when the file has no consent column).
    """

    line: int
    email: str
    name: str
    status: str = "active"
    consent: str | None = None
    """A NamedTuple: an export may hold 100,000 of them, made several times faster than a
    frozen dataclass."""


@dataclass
class Contacts:
    """The records of one file and what was learnt about it on the way."""

    format: str
    header_line: int
    consent_column: str = ""
    """The consent column's name as written in the file, "" when there is none."""
    implied_consent: str = ""
    """Consent the export itself records (a mail service's subscribed list), else ""."""
    has_status: bool = False
    """True when the format says, row by row or for the whole file, who left."""
    records: Iterable[Contact] = field(default_factory=list)
    """In file order; a CSV reader yields them as it reads, so an export is never held as
    contacts and as rows at once. Read them once."""
    unreadable: list[tuple[int, str]] = field(default_factory=list)
    """(line, reason) of records the reader could not read at all: rejected rows."""
    unclosed: int = 0
    """Once the records are read: the line of a record that swallowed the rest of the file
    (a quote opened and never closed), else 0."""
