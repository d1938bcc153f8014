"""Read a subscriber CSV (a booking system's or spreadsheet's export) into validated rows."""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.errors import NewsletterError, Problem
from newsletter.mail.database import connect
from newsletter.mail.subscribers import (
    ImportCounts,
    clean_name,
    email_key,
    import_rows,
    normalize_email,
)

SAMPLE_CHARS = 64 * 1024
DELIMITERS = ",;\t"

# Header names as exported by spreadsheets, booking systems and mail services, compared
# after case-folding and dropping everything but letters and digits ("E-mail Address").
EMAIL_HEADERS = ("email", "emailaddress", "mail", "emailadresse", "courriel", "primaryemail")
NAME_HEADERS = ("name", "fullname", "clientname", "customername", "contactname", "displayname")
FIRST_HEADERS = ("firstname", "givenname", "first", "forename", "vorname", "prenom")
LAST_HEADERS = ("lastname", "surname", "familyname", "last", "nachname", "nom")
CONSENT_HEADERS = ("consent", "consentbasis", "marketingconsent", "emailconsent", "optin")

NO_WORDS = {"no", "n", "false", "0", "none", "declined", "optout", "optedout", "unsubscribed"}
YES_WORDS = {"yes", "y", "true", "1", "x", "optedin", "subscribed"}

NO_CONSENT = (
    "no consent column and no --consent: nothing was imported. Sending marketing email needs "
    "each person's agreement, and a booking system's client list is not that agreement. "
    "If these people did agree, say how: --consent 'ticked the newsletter box on the intake "
    "form, 2025'; or add a 'consent' column with the basis for each person"
)

UNCLOSED_QUOTE = (
    'a quote (") opens a field here and is never closed, so the rest of the file was read '
    "as one field; close it or remove it"
)


@dataclass(frozen=True, slots=True)
class Row:
    """One valid subscriber from the file; `line` is where its record starts."""

    line: int
    email: str
    name: str
    consent: str

    @property
    def key(self) -> str:
        return email_key(self.email)


@dataclass
class Parsed:
    """The good rows, in file order, and one problem per bad row."""

    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def decode(data: bytes, path: str) -> str:
    """UTF-8 text (BOM dropped); binary or other encodings are a clear error with a line."""
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise NewsletterError.single(
            path, "this is a binary file, not a CSV; export the list as CSV (UTF-8)", line
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NewsletterError.single(
            path,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save it again as "
            "'CSV UTF-8' (Excel) or with UTF-8 encoding",
            line,
        ) from None


def _header_key(cell: str) -> str:
    return re.sub(r"[^a-z0-9]", "", cell.casefold())


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [_header_key(cell) for cell in header]
    for name in names:
        if name in keys:
            return keys.index(name)
    return None


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
        if _find(_first_record(text, delimiter), EMAIL_HEADERS) is not None:
            return delimiter
    return candidates[0]


@dataclass(frozen=True)
class Columns:
    """Where each field is in a record, found from the header row's names."""

    email: int
    name: int | None
    first: int | None
    last: int | None
    consent: int | None
    consent_name: str

    @classmethod
    def from_header(cls, header: list[str], *, path: str, line: int) -> Columns:
        email = _find(header, EMAIL_HEADERS)
        if email is None:
            found = ", ".join(repr(cell.strip()) for cell in header[:8])
            raise NewsletterError.single(
                path,
                f"no email column (found {found}); name the column of addresses 'email' "
                "('E-mail' and 'Email Address' work too)",
                line,
            )
        consent = _find(header, CONSENT_HEADERS)
        return cls(
            email=email,
            name=_find(header, NAME_HEADERS),
            first=_find(header, FIRST_HEADERS),
            last=_find(header, LAST_HEADERS),
            consent=consent,
            consent_name=header[consent].strip() if consent is not None else "",
        )

    def parse(self, record: list[str], line: int, default_consent: str | None) -> Row | str:
        """The row, or the reason it cannot be imported."""
        raw = _cell(record, self.email)
        if not raw:
            return "no email address"
        try:
            email = normalize_email(raw)
        except ValueError as exc:
            return f"{raw!r}: {exc}"
        name = _cell(record, self.name) or f"{_cell(record, self.first)} {_cell(record, self.last)}"
        consent = default_consent or ""
        if self.consent is not None:
            cell = _cell(record, self.consent)
            given = _consent(cell, self.consent_name, default_consent)
            if given is None:
                return f"{email}: the {self.consent_name!r} column says {cell!r}; not imported"
            consent = given
        if not consent:
            return (
                f"{email}: the {self.consent_name!r} column is empty; fill it in, or give "
                "--consent for the rows without one"
            )
        try:
            name = clean_name(name)
        except ValueError as exc:
            return f"{email}: {exc}"
        return Row(line, email, name, sys.intern(consent))


@functools.lru_cache(maxsize=1024)
def _consent(value: str, column: str, default: str | None) -> str | None:
    """The consent text to record, "" when the cell is empty, None when it says no."""
    word = _header_key(value)
    if word in NO_WORDS:
        return None
    if not word:
        return default or ""
    if word in YES_WORDS:
        return default or f"{column}: {value.strip()}"
    return " ".join(value.split())


def _cell(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None and index < len(record) else ""


def parse_csv(text: str, *, path: str, consent: str | None = None) -> Parsed:
    """Validate every row; bad rows become `path:line` problems and the good ones still count.

    Raises NewsletterError, before anything is written, for what makes the whole file
    unusable: no rows, no email column, no consent basis at all. Lines are physical lines
    where each record starts (a quoted field may span several).
    """
    consent = " ".join(consent.split()) if consent else None
    if not text.strip():
        raise NewsletterError.single(
            path, "the file is empty; expected a header row such as 'email,name,consent'", 1
        )
    reader = _records(text, sniff_delimiter(text))
    parsed = Parsed()
    columns: Columns | None = None
    header_line = 1
    seen: dict[str, int] = {}
    start = line = 1
    spans_lines = False
    try:
        for record in reader:
            line, start = start, reader.line_num + 1
            spans_lines = False
            if not any(cell.strip() for cell in record):
                continue
            if columns is None:
                columns, header_line = Columns.from_header(record, path=path, line=line), line
                if columns.consent is None and not consent:
                    raise NewsletterError.single(path, NO_CONSENT, line)
                continue
            spans_lines = reader.line_num > line
            row = columns.parse(record, line, consent)
            if isinstance(row, str):
                parsed.problems.append(Problem(path, line, row))
                continue
            first = seen.setdefault(row.key, line)
            if first != line:
                message = f"{row.email}: duplicate of line {first}; the first is kept"
                parsed.problems.append(Problem(path, line, message))
                continue
            parsed.rows.append(row)
    except csv.Error as exc:
        problem = Problem(path, reader.line_num, f"not readable as CSV: {exc}")
        raise NewsletterError([*parsed.problems, problem]) from None
    if spans_lines and parsed.problems and parsed.problems[-1].line == line:
        tail = "".join(itertools.islice(_lines(text), line - 1, None))
        if tail.count('"') % 2:  # an odd number of quotes: one was opened and never closed
            parsed.problems[-1] = Problem(path, line, UNCLOSED_QUOTE)
    if not parsed.rows and not parsed.problems:
        raise NewsletterError.single(
            path, "only a header row: no subscribers to import", header_line
        )
    return parsed


def read_csv_file(file: Path, *, path: str, consent: str | None = None) -> Parsed:
    """Read and parse a CSV file; `path` is how messages name it."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise NewsletterError.single(path, "file not found") from None
    except IsADirectoryError:
        raise NewsletterError.single(path, "is a folder, expected a CSV file") from None
    except OSError as exc:
        raise NewsletterError.single(path, f"cannot read the file: {exc.strerror}") from None
    text = decode(data, path)
    del data  # a large export need not be held twice
    return parse_csv(text, path=path, consent=consent)


@dataclass(frozen=True)
class ImportResult:
    """Counts for the summary line and the problems of the rejected rows."""

    counts: ImportCounts
    problems: tuple[Problem, ...]
    dry_run: bool

    @property
    def rejected(self) -> int:
        return len(self.problems)

    def summary(self, path: str) -> str:
        c = self.counts
        head = f"Dry run of {path} (nothing written)" if self.dry_run else f"Imported {path}"
        return (
            f"{head}: {c.added} added, {c.updated} updated, {c.unchanged} unchanged, "
            f"{self.rejected} rejected, {c.skipped} skipped (unsubscribed, bounced or complained)"
        )


def import_csv(
    database: Path,
    file: Path,
    *,
    path: str,
    source: str | None = None,
    consent: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Read, validate, then merge the good rows in one transaction; a dry run writes nothing."""
    parsed = read_csv_file(file, path=path, consent=consent)
    if dry_run and not database.exists():
        database = Path(":memory:")  # an empty list, without creating the file
    conn = connect(database)
    try:
        counts = import_rows(
            conn,
            ((row.email, row.name, row.consent) for row in parsed.rows),
            source=source or f"import {file.name}",
            dry_run=dry_run,
        )
    finally:
        conn.close()
    return ImportResult(counts, tuple(parsed.problems), dry_run)
