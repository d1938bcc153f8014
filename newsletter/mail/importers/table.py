"""CSV records through a format's mapping into contacts, with the line where each starts."""

from __future__ import annotations

import contextlib
import csv
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from newsletter.errors import NewsletterError, Problem
from newsletter.mail.importers.contact import Contact, Contacts
from newsletter.mail.importers.formats import FORMATS, GENERIC, Format, find, header_key, recognise

SAMPLE_CHARS = 64 * 1024
DELIMITERS = ",;\t"
ALL_EMAIL_KEYS = tuple(dict.fromkeys(k for f in (*FORMATS, GENERIC) for k in f.email))
GOOGLE_SEPARATOR = " ::: "
"""Google Contacts puts a contact's extra addresses of one label in one cell, joined so."""

UNCLOSED_QUOTE = (
    'a quote (") opens a field here and is never closed, so the rest of the file was read '
    "as one field; close it or remove it"
)

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def _lines(text: str) -> Iterator[str]:
    """Physical lines with their endings, lazily: io.StringIO would copy the text 4-fold."""
    return (match.group() for match in _LINE.finditer(text))


def _records(text: str, delimiter: str) -> Any:
    return csv.reader(_lines(text), delimiter=delimiter)


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        for record in _records(text, delimiter):
            if any(cell.strip() for cell in record):
                return list(record)
    except csv.Error:
        return []
    return []


def sniff_delimiter(text: str) -> str:
    """The delimiter whose header row has an email column: Sniffer's guess first, then each."""
    candidates = []
    with contextlib.suppress(csv.Error):
        sample = text[:SAMPLE_CHARS]
        candidates.append(csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter)
    candidates += [d for d in DELIMITERS if d not in candidates]
    for delimiter in candidates:
        keys = [header_key(cell) for cell in _first_record(text, delimiter)]
        if find(keys, ALL_EMAIL_KEYS) is not None:
            return delimiter
    return candidates[0]


def _named(
    header: list[str], keys: list[str], wanted: str, option: str, path: str, line: int
) -> int:
    """The column the user named with --email-column/--name-column."""
    for index, cell in enumerate(header):
        if cell.strip().casefold() == wanted.strip().casefold():
            return index
    if header_key(wanted) in keys:
        return keys.index(header_key(wanted))
    raise NewsletterError.single(
        path, f"{option} {wanted!r}: no such column; the columns are {_listing(header)}", line
    )


def _listing(header: list[str]) -> str:
    return ", ".join(repr(cell.strip()) for cell in header)


def _indexes(keys: list[str], names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(keys.index(name) for name in names if name in keys)


@dataclass(frozen=True)
class Columns:
    """Where one format's fields are in this file's records."""

    format: Format
    email: tuple[int, ...]
    name: int | None
    first: int | None
    last: int | None
    consent: int | None
    status: int | None

    @classmethod
    def from_header(
        cls,
        header: list[str],
        *,
        path: str,
        line: int,
        email_column: str | None = None,
        name_column: str | None = None,
    ) -> Columns:
        keys = [header_key(cell) for cell in header]
        fmt = recognise(keys)
        if email_column:
            emails: tuple[int, ...] = (
                _named(header, keys, email_column, "--email-column", path, line),
            )
        else:
            emails = _indexes(keys, fmt.email)[:1] if fmt is GENERIC else _indexes(keys, fmt.email)
        if not emails:
            raise NewsletterError.single(
                path,
                f"no email column among the columns {_listing(header)}; name the column of "
                "addresses with --email-column 'COLUMN' (or call it 'email')",
                line,
            )
        name = (
            _named(header, keys, name_column, "--name-column", path, line)
            if name_column
            else find(keys, fmt.name_columns)
        )
        return cls(
            format=fmt,
            email=emails,
            name=name,
            first=None if name_column else find(keys, fmt.first),
            last=None if name_column else find(keys, fmt.last),
            consent=find(keys, fmt.consent),
            status=find(keys, fmt.status_column),
        )

    def contact(self, record: list[str], line: int) -> Contact:
        """The contact in one record; the hot path of a large import, so written out."""
        count = len(record)
        email = ""
        for index in self.email:
            if index < count:
                email = record[index].strip()
                if email:
                    if GOOGLE_SEPARATOR in email:
                        email = email.split(GOOGLE_SEPARATOR, 1)[0].strip()
                    break
        name = record[self.name].strip() if self.name is not None and self.name < count else ""
        if not name and (self.first is not None or self.last is not None):
            name = f"{_cell(record, self.first)} {_cell(record, self.last)}"
        status = self.format.status
        if self.status is not None:
            status = self.format.status_words.get(header_key(_cell(record, self.status)), status)
        consent = _cell(record, self.consent) if self.consent is not None else None
        return Contact(line, email, name, status, consent)


def _cell(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None and index < len(record) else ""


def read_table(
    text: str,
    *,
    path: str,
    delimiter: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
) -> tuple[Contacts, int]:
    """The contacts, and the line of a record that swallowed the rest (unclosed quote) or 0.

    Raises NewsletterError for what makes the whole file unusable: no header, no email
    column, a record csv cannot read.
    """
    reader = _records(text, delimiter or sniff_delimiter(text))
    columns: Columns | None = None
    contacts = Contacts(format=GENERIC.name, header_line=1)
    start = line = 1
    spans_lines = False
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            spans_lines = False
            if not any(cell.strip() for cell in record):
                continue
            if columns is None:
                columns = Columns.from_header(
                    record, path=path, line=line, email_column=email_column, name_column=name_column
                )
                fmt = columns.format
                contacts = Contacts(
                    format=fmt.name,
                    header_line=line,
                    consent_column=record[columns.consent].strip()
                    if columns.consent is not None
                    else "",
                    implied_consent=fmt.implied_consent,
                    has_status=fmt.status != "active" or columns.status is not None,
                )
                continue
            spans_lines = reader.line_num > line
            contacts.records.append(columns.contact(record, line))
    except csv.Error as exc:
        raise NewsletterError(
            [Problem(path, reader.line_num, f"not readable as CSV: {exc}")]
        ) from None
    broken = 0
    if spans_lines:
        tail = "".join(itertools.islice(_lines(text), line - 1, None))
        if tail.count('"') % 2:  # an odd number of quotes: one was opened and never closed
            broken = line
    return contacts, broken
