"""Import a contact list export: read it, map each record to (email, name, status), store.

Reading (encodings, CSV layouts, vCard, one mapping per export format) is in
`newsletter.mail.importers`; storage is `newsletter.mail.subscribers`. This module decides,
row by row, what is imported, what is a note (a duplicate, a row without an address, a
declined consent) and what is rejected as invalid.
"""

from __future__ import annotations

import functools
import itertools
import sys
from array import array
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, overload

from newsletter.errors import NewsletterError, Problem
from newsletter.mail.database import connect
from newsletter.mail.importers.contact import Contact, Contacts
from newsletter.mail.importers.formats import header_key
from newsletter.mail.importers.table import UNCLOSED_QUOTE, read_table
from newsletter.mail.importers.text import decode, take_separator_line
from newsletter.mail.importers.vcard import looks_like_vcard, read_vcard
from newsletter.mail.subscribers import (
    ImportCounts,
    LeaverCounts,
    clean_name,
    email_key,
    import_contacts,
    normalize_email,
)

__all__ = ["NO_CONSENT", "UNCLOSED_QUOTE", "ImportResult", "import_csv", "parse_csv"]

NO_WORDS = {"no", "n", "false", "0", "none", "declined", "optout", "optedout", "unsubscribed"}
YES_WORDS = {"yes", "y", "true", "1", "x", "optedin", "subscribed"}

NO_CONSENT = (
    "no consent column and no --consent: nothing was imported. Sending marketing email needs "
    "each person's agreement, and a booking system's client list is not that agreement. "
    "If these people did agree, say how: --consent 'ticked the newsletter box on the intake "
    "form, 2025'; or add a 'consent' column with the basis for each person"
)

CHECKPOINT_PAGES = 8000
"""WAL pages after which the import's own commits copy the log back into the database.

A batch of 5,000 rows writes 350 to 900 pages (the random unsubscribe-id index touches
most of its leaves; 50 MB of log for a 100,000-row import), so SQLite's default of 1,000
would make nearly every batch checkpoint and wait for two fsyncs; this one checkpoints
every ten batches or so (about 32 MB of log at most). Closing
the last connection, the web service's checkpoint thread or another writer's commit copies
back the rest."""

NOTE_KINDS = {
    "duplicate": ("duplicate", "duplicates"),
    "no-address": ("without an address", "without an address"),
    "declined": ("declined in the consent column", "declined in the consent column"),
}


class Row(NamedTuple):
    """One valid person from the file: what is stored, and the line it came from."""

    line: int
    email: str
    name: str
    consent: str
    status: str = "active"

    @property
    def key(self) -> str:
        return email_key(self.email)


class Rows(Sequence[Row]):
    """Rows kept as columns: a 100,000-row export is two strings a row (address, name)
    instead of a tuple, a line number and the two strings."""

    def __init__(self) -> None:
        self._lines = array("q")
        self._emails: list[str] = []
        self._names: list[str] = []
        self._consents: list[str] = []
        self._statuses: list[str] = []
        self._add_line, self._add_email = self._lines.append, self._emails.append
        self._add_name, self._add_consent = self._names.append, self._consents.append
        self._add_status = self._statuses.append

    def append(self, row: Row) -> None:
        self._add_line(row[0])
        self._add_email(row[1])
        self._add_name(row[2])
        self._add_consent(row[3])
        self._add_status(row[4])

    def __len__(self) -> int:
        return len(self._emails)

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return Row(
            self._lines[index],
            self._emails[index],
            self._names[index],
            self._consents[index],
            self._statuses[index],
        )

    def __iter__(self) -> Iterator[Row]:
        columns = (self._lines, self._emails, self._names, self._consents, self._statuses)
        return map(Row, *columns)

    def joining(self) -> Iterator[tuple[str, str, str]]:
        """(email, name, consent) of each active row, in file order."""
        rows = zip(self._emails, self._names, self._consents, self._statuses, strict=True)
        return ((e, n, c) for e, n, c, status in rows if status == "active")

    def leaving(self) -> Iterator[tuple[str, str, str]]:
        """(email, name, status) of each row of someone who left, in file order."""
        rows = zip(self._emails, self._names, self._statuses, strict=True)
        return (row for row in rows if row[2] != "active")


@dataclass
class Parsed:
    """The rows to store, in file order; one problem per rejected row; one note per skipped."""

    format: str = "CSV"
    rows: Rows = field(default_factory=Rows)
    problems: list[Problem] = field(default_factory=list)
    notes: list[tuple[str, Problem]] = field(default_factory=list)
    """(kind, note): kind is a key of NOTE_KINDS."""

    @property
    def total(self) -> int:
        return len(self.rows) + len(self.problems) + len(self.notes)


@functools.lru_cache(maxsize=1024)
def _consent(value: str, column: str, default: str | None) -> str | None:
    """The consent text to record, "" when the cell is empty, None when it says no."""
    word = header_key(value)
    if word in NO_WORDS:
        return None
    if not word:
        return default or ""
    if word in YES_WORDS:
        return default or f"{column}: {value.strip()}"
    return " ".join(value.split())


def _row(contact: Contact, contacts: Contacts, default: str | None) -> Row | tuple[str, str]:
    """The row to store, or (kind, message): kind "error" rejects it, else it is a note."""
    raw = contact.email
    if not raw:
        return "no-address", "no email address; skipped"
    try:
        email = normalize_email(raw)
    except ValueError as exc:
        return "error", f"{raw!r}: {exc}"
    try:
        name = clean_name(contact.name)
    except ValueError as exc:
        return "error", f"{email}: {exc}"
    if contact.status != "active":
        return _new_row(Row, (contact.line, email, name, "", contact.status))
    consent = default or contacts.implied_consent
    if contact.consent is not None:
        column = contacts.consent_column
        given = _consent(contact.consent, column, default)
        if given is None:
            return (
                "declined",
                f"{email}: the {column!r} column says {contact.consent!r}; not imported",
            )
        consent = given or contacts.implied_consent
        if not consent:
            return "error", (
                f"{email}: the {column!r} column is empty; fill it in, or give "
                "--consent for the rows without one"
            )
    if not consent:
        return "no-consent", email
    return _new_row(Row, (contact.line, email, name, sys.intern(consent), "active"))


_new_row = tuple.__new__
"""Row's own constructor is a Python function; this is the C one it calls."""


def _no_consent(contacts: Contacts, path: str) -> NewsletterError:
    """NO_CONSENT, once the rest of the file is read: a record csv cannot read comes first."""
    for _ in contacts.records:
        pass
    return NewsletterError.single(path, NO_CONSENT, contacts.header_line)


def map_contacts(contacts: Contacts, *, path: str, consent: str | None = None) -> Parsed:
    """Each contact to a row, a note or a rejection; the first row of an address wins."""
    default = " ".join(consent.split()) if consent else None
    if not (contacts.consent_column or default or contacts.implied_consent or contacts.has_status):
        raise _no_consent(contacts, path)
    parsed = Parsed(format=contacts.format)
    keep, notes, key_of = parsed.rows.append, parsed.notes, email_key
    seen: dict[str, int] = {}
    first_line = seen.setdefault
    for contact in contacts.records:
        row = _row(contact, contacts, default)
        if not isinstance(row, Row):
            kind, message = row
            if kind == "no-consent":
                raise _no_consent(contacts, path)
            if kind == "error":
                parsed.problems.append(Problem(path, contact.line, message))
            else:
                notes.append((kind, Problem(path, contact.line, message, "warning")))
            continue
        email, line = row[1], row[0]
        first = first_line(key_of(email), line)
        if first != line:
            message = f"{email}: duplicate of line {first}; the first is kept"
            notes.append(("duplicate", Problem(path, line, message, "warning")))
            continue
        keep(row)
    return parsed


def _explain_unclosed(parsed: Parsed, line: int, path: str) -> None:
    """A record that swallowed the rest of the file is reported as the stray quote it is."""
    for index, problem in enumerate(parsed.problems):
        if problem.line == line:
            parsed.problems[index] = Problem(path, line, UNCLOSED_QUOTE)
    for index, (_kind, note) in enumerate(parsed.notes):
        if note.line == line:
            del parsed.notes[index]
            parsed.problems.append(Problem(path, line, UNCLOSED_QUOTE))
            break


def parse_csv(
    text: str,
    *,
    path: str,
    consent: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
) -> Parsed:
    """Validate every record of a CSV (or vCard) text; bad rows become `path:line` problems.

    Raises NewsletterError, before anything is written, for what makes the whole file
    unusable: no rows, no email column, no consent basis at all. Lines are physical lines
    where each record starts (a quoted field may span several).
    """
    text, delimiter = take_separator_line(text)
    if not text or text.isspace():  # text.strip() would copy the whole file
        raise NewsletterError.single(
            path, "the file is empty; expected a header row such as 'email,name,consent'", 1
        )
    if looks_like_vcard(text):
        contacts = read_vcard(text, path=path)
    else:
        contacts = read_table(
            text, path=path, delimiter=delimiter, email_column=email_column, name_column=name_column
        )
    records = iter(contacts.records)
    first = next(records, None)
    if first is None and not contacts.unreadable:
        raise NewsletterError.single(
            path, "only a header row: no subscribers to import", contacts.header_line
        )
    contacts.records = records if first is None else itertools.chain((first,), records)
    parsed = map_contacts(contacts, path=path, consent=consent)
    parsed.problems += [Problem(path, line, reason) for line, reason in contacts.unreadable]
    parsed.problems.sort(key=lambda p: p.line)
    if contacts.unclosed:
        _explain_unclosed(parsed, contacts.unclosed, path)
    return parsed


def read_csv_file(
    file: Path,
    *,
    path: str,
    consent: str | None = None,
    encoding: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
) -> Parsed:
    """Read and parse an export file; `path` is how messages name it."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise NewsletterError.single(path, "file not found") from None
    except IsADirectoryError:
        raise NewsletterError.single(path, "is a folder, expected a CSV file") from None
    except OSError as exc:
        raise NewsletterError.single(path, f"cannot read the file: {exc.strerror}") from None
    text = decode(data, path, encoding)
    del data  # a large export need not be held twice
    return parse_csv(
        text, path=path, consent=consent, email_column=email_column, name_column=name_column
    )


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class ImportResult:
    """What happened to every row: stored (by outcome), a note, or rejected."""

    counts: ImportCounts
    problems: tuple[Problem, ...]
    dry_run: bool
    notes: tuple[tuple[str, Problem], ...] = ()
    leavers: LeaverCounts = field(default_factory=LeaverCounts)
    format: str = "CSV"
    total: int = 0

    @property
    def rejected(self) -> int:
        return len(self.problems)

    def summary(self, path: str) -> str:
        """One line whose numbers add up to the rows of the file."""
        c, left = self.counts, self.leavers
        head = f"Dry run of {path}" if self.dry_run else f"Imported {path}"
        kind = "" if self.format == "CSV" else f"{self.format}, "
        parts = [
            f"{c.added} added",
            f"{c.updated} updated",
            f"{c.unchanged} unchanged",
            f"{self.rejected} rejected",
            f"{c.skipped} skipped (unsubscribed, bounced or complained)",
        ]
        if left.total:
            parts.append(
                f"{left.total} recorded as unsubscribed or bounced ({left.recorded} new, "
                f"{left.stopped} no longer active, {left.unchanged} already not active)"
            )
        if self.notes:
            kinds = Counter(k for k, _ in self.notes)
            detail = ", ".join(_plural(kinds[k], *NOTE_KINDS[k]) for k in NOTE_KINDS if kinds[k])
            parts.append(f"{len(self.notes)} not imported ({detail})")
        rows = _plural(self.total, "row", "rows")
        dry = "; nothing written" if self.dry_run else ""
        return f"{head} ({kind}{rows}{dry}): {', '.join(parts)}"


def import_csv(
    database: Path,
    file: Path,
    *,
    path: str,
    source: str | None = None,
    consent: str | None = None,
    dry_run: bool = False,
    encoding: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
) -> ImportResult:
    """Read, validate, then merge the rows in one transaction; a dry run writes nothing."""
    parsed = read_csv_file(
        file,
        path=path,
        consent=consent,
        encoding=encoding,
        email_column=email_column,
        name_column=name_column,
    )
    if dry_run and not database.exists():
        database = Path(":memory:")  # an empty list, without creating the file
    conn = connect(database)
    # The batches go through temporary tables: in memory, rather than a temporary file
    # and its journal rewritten for every batch (100 MB of writes for 100,000 rows).
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES}")
    try:
        counts, left = import_contacts(
            conn,
            parsed.rows.joining(),
            parsed.rows.leaving(),
            source=source or f"import {file.name}",
            dry_run=dry_run,
        )
    finally:
        conn.close()
    return ImportResult(
        counts,
        tuple(parsed.problems),
        dry_run,
        notes=tuple(parsed.notes),
        leavers=left,
        format=parsed.format,
        total=parsed.total,
    )
