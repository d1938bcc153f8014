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
_BREAK = re.compile(r"\r\n|\r|\n")
_OTHER_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
"""What str.splitlines also ends a line at, and csv does not."""
CHUNK = 64 * 1024


def _chunks(text: str, size: int) -> Iterator[str]:
    """The text in pieces of about `size` characters, each ending where a line ends."""
    start, length = 0, len(text)
    while start < length:
        end = start + size
        if end >= length:
            yield text[start:]
            return
        cut = text.rfind("\n", start, end) + 1
        if cut <= start:  # no LF in the window: a long line, or CR line ends
            found = _BREAK.search(text, end)
            cut = found.end() if found else length
        yield text[start:cut]
        start = cut


def _split(chunk: str) -> list[str]:
    """A chunk's lines with their endings: CR LF, CR or LF, as csv reads them."""
    if _OTHER_BREAKS.search(chunk):
        return [match.group() for match in _LINE.finditer(chunk)]
    return chunk.splitlines(keepends=True)


def _lines(text: str, size: int = CHUNK) -> Iterator[str]:
    """Physical lines with their endings, a chunk at a time: io.StringIO would copy the text
    4-fold, and one regular-expression match per line costs more than csv's parsing."""
    return itertools.chain.from_iterable(map(_split, _chunks(text, size)))


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
        at = self.name
        name = record[at].strip() if at is not None and at < count else ""
        if not name and (self.first is not None or self.last is not None):
            first, last = self.first, self.last
            given = record[first].strip() if first is not None and first < count else ""
            family = record[last].strip() if last is not None and last < count else ""
            name = f"{given} {family}"
        status = self.format.status
        if self.status is not None:
            status = self.format.status_words.get(header_key(_cell(record, self.status)), status)
        at = self.consent
        consent = None if at is None else record[at].strip() if at < count else ""
        return _new_contact(Contact, (line, email, name, status, consent))


_new_contact = tuple.__new__
"""Contact's own constructor is a Python function; this is the C one it calls."""


def _cell(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None and index < len(record) else ""


def _blank(record: list[str]) -> bool:
    """A record with nothing but white space (callers first try its first cell)."""
    return not any(cell.strip() for cell in record)


def read_table(
    text: str,
    *,
    path: str,
    delimiter: str | None = None,
    email_column: str | None = None,
    name_column: str | None = None,
) -> Contacts:
    """The file's format and columns, read from its header row; the records follow lazily.

    Raises NewsletterError for what makes the whole file unusable: no header, no email
    column, a record csv cannot read (while the records are read, for one after the
    header). Once they are read, `unclosed` is the line of a record that swallowed the
    rest of the file.
    """
    reader = _records(text, delimiter or sniff_delimiter(text))
    state = _Reading(path, reader)
    header = state.header()
    if header is None:
        return Contacts(format=GENERIC.name, header_line=1, records=())
    record, line = header
    columns = Columns.from_header(
        record, path=path, line=line, email_column=email_column, name_column=name_column
    )
    fmt = columns.format
    contacts = Contacts(
        format=fmt.name,
        header_line=line,
        consent_column=record[columns.consent].strip() if columns.consent is not None else "",
        implied_consent=fmt.implied_consent,
        has_status=fmt.status != "active" or columns.status is not None,
    )
    contacts.records = state.contacts(columns, contacts, text)
    return contacts


class _Reading:
    """The csv reader and the line where its next record starts, header then records."""

    def __init__(self, path: str, reader: Any) -> None:
        self.path, self.reader, self.start = path, reader, 1

    def _error(self, exc: csv.Error) -> NewsletterError:
        line = self.reader.line_num
        return NewsletterError([Problem(self.path, line, f"not readable as CSV: {exc}")])

    def header(self) -> tuple[list[str], int] | None:
        """The first record with a non-blank cell and its line, or None for a blank file."""
        try:
            for record in self.reader:
                line, self.start = self.start, self.reader.line_num + 1
                if not _blank(record):
                    return record, line
        except csv.Error as exc:
            raise self._error(exc) from None
        return None

    def contacts(self, columns: Columns, contacts: Contacts, text: str) -> Iterator[Contact]:
        """Each record after the header as a contact; `contacts.unclosed` set at the end."""
        reader, contact, start = self.reader, columns.contact, self.start
        line, record = start, []
        try:
            for record in reader:
                line, start = start, reader.line_num + 1
                first = record[0] if record else ""
                if (not first or first.isspace()) and _blank(record):
                    continue
                yield contact(record, line)
        except csv.Error as exc:
            raise self._error(exc) from None
        if reader.line_num > line and not _blank(record):  # the last record spans lines
            tail = "".join(itertools.islice(_lines(text), line - 1, None))
            if tail.count('"') % 2:  # an odd number of quotes: one was opened and never closed
                contacts.unclosed = line
