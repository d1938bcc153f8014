"""The subscriber list in SQLite: add, unsubscribe, bounce, stream, count, export."""

from __future__ import annotations

import csv
import functools
import itertools
import re
import sqlite3
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple, TextIO

from newsletter import tokens
from newsletter.errors import NewsletterError
from newsletter.mail.database import transaction, utc_iso

STATUSES = ("active", "unsubscribed", "bounced", "complained")
"""Only `active` receives mail; the others are kept as proof and never re-activated by import."""


@dataclass(frozen=True)
class Subscriber:
    """One row of the list; `consent` says how they agreed, `consent_at` when."""

    id: int
    email: str
    name: str
    status: str
    source: str
    consent: str
    consent_at: str
    created_at: str
    updated_at: str
    unsubscribed_at: str | None


COLUMNS = tuple(f.name for f in fields(Subscriber))
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM subscribers"


def now_utc() -> str:
    """Timestamps are ISO 8601 UTC strings: sortable, readable in an export."""
    return utc_iso()


# An unquoted ASCII local part (RFC 5322 dot-atom): email-validator leaves it as written.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")

# A dot-atom local part at a plain ASCII host name: labels of letters, digits and inner
# hyphens, 63 characters at most, two labels or more, the last one ending in a letter.
_PLAIN_ADDRESS = re.compile(
    r"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?:[A-Za-z0-9][A-Za-z0-9-]{0,61})?[A-Za-z])"
)


class _Rules(NamedTuple):
    special_use: tuple[str, ...]
    special_use_suffixes: tuple[str, ...]
    role_mailboxes: frozenset[str]
    longest_role: int


@functools.cache
def _rules() -> _Rules:
    """email-validator's tables, imported on first use: a send or a status never needs them
    (the import is a tenth of a start-up)."""
    from email_validator import SPECIAL_USE_DOMAIN_NAMES
    from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

    roles = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)
    return _Rules(
        tuple(SPECIAL_USE_DOMAIN_NAMES),
        tuple(f".{name}" for name in SPECIAL_USE_DOMAIN_NAMES),
        roles,
        max(map(len, roles)),
    )


_ADDRESS_LIMIT = 254
"""Characters in an address (RFC 5321 4.5.3.1.3); email-validator's limit too."""


def _plain_address(address: str) -> str | None:
    """email-validator's normalised form of a plain ASCII address, or None to ask it.

    For these it only lower-cases the domain and a role mailbox name (`Info@`, RFC 2142).
    Anything else is None: a special-use domain (`.test`), a label with `--` (Punycode or
    reserved), a quoted or non-ASCII part, an address over the length limit.
    """
    if len(address) > _ADDRESS_LIMIT:
        return None
    match = _PLAIN_ADDRESS.fullmatch(address)
    if match is None:
        return None
    local, domain = match.groups()
    if "--" in domain:
        return None
    changed = not domain.islower()  # the last label ends in a letter: never caseless
    if changed:
        domain = domain.lower()
    rules = _rules()
    if domain in rules.special_use or domain.endswith(rules.special_use_suffixes):
        return None
    if len(local) <= rules.longest_role and local.lower() in rules.role_mailboxes:
        local, changed = local.lower(), True
    return f"{local}@{domain}" if changed else address


@functools.lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str]:
    """(normalised, ASCII) form of a domain, validated once: lists repeat a few domains."""
    from email_validator import validate_email

    result = validate_email(f"a@{domain}", check_deliverability=False)
    return result.domain, result.ascii_domain


def normalize_email(address: str) -> str:
    """The address as stored: email-validator's normalised form (IDN domain, no DNS).

    Raises ValueError with email-validator's explanation. Two fast paths give the same
    answer, so 100,000 rows import in seconds: a plain ASCII address is checked by one
    regular expression, and an ASCII local part at another domain validates the domain
    once per domain.
    """
    address = address.strip()
    plain = _plain_address(address)
    if plain is not None:
        return plain
    from email_validator import EmailNotValidError, validate_email  # not for plain addresses

    local, at, domain = address.rpartition("@")
    if at and len(local) <= 64 and _DOT_ATOM.fullmatch(local):
        try:
            unicode_domain, ascii_domain = _domain(domain)
        except EmailNotValidError:
            pass  # the full validation below gives the message for the whole address
        else:
            if len(local) + 1 + len(ascii_domain) <= _ADDRESS_LIMIT:
                if local.lower() in _rules().role_mailboxes:
                    local = local.lower()
                return f"{local}@{unicode_domain}"
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


def email_key(email: str) -> str:
    """The uniqueness key: two addresses differing only in case are the same subscriber."""
    return email.lower()


def _row(row: sqlite3.Row | None) -> Subscriber | None:
    return Subscriber(*row) if row is not None else None


def get(conn: sqlite3.Connection, email: str) -> Subscriber | None:
    """The subscriber with this address in any case, or None (also for an invalid address)."""
    try:
        key = email_key(normalize_email(email))
    except ValueError:
        return None
    return _row(conn.execute(f"{_SELECT} WHERE email_key = ?", (key,)).fetchone())


def _valid(email: str) -> str:
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise NewsletterError.single(email, str(exc)) from None


def add(
    conn: sqlite3.Connection,
    email: str,
    *,
    consent: str,
    name: str = "",
    source: str = "",
    resubscribe: bool = False,
    now: str | None = None,
) -> Subscriber:
    """Add an active subscriber with the consent they gave.

    An address already in the list is left alone, unless `resubscribe` records new consent
    from someone who had left: that is the only way back to active.
    """
    address = _valid(email)
    consent = " ".join(consent.split())
    if not consent:
        raise NewsletterError.single(address, NO_CONSENT_ONE)
    try:
        name = clean_name(name)
        consent = clean_name(consent)
    except ValueError as exc:
        raise NewsletterError.single(address, str(exc)) from None
    now = now or now_utc()
    with transaction(conn):
        existing = get(conn, address)
        if existing is None:
            conn.execute(
                "INSERT INTO subscribers (email, email_key, name, status, source, consent,"
                " consent_at, created_at, updated_at) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?)",
                (address, email_key(address), name, source, consent, now, now, now),
            )
        elif existing.status == "active":
            raise NewsletterError.single(existing.email, "already subscribed")
        elif not resubscribe:
            raise NewsletterError.single(
                existing.email,
                f"{existing.status} since {_status_date(existing)}; "
                "add --resubscribe only if they asked to receive the newsletter again",
            )
        else:
            conn.execute(
                "UPDATE subscribers SET status = 'active', consent = ?, consent_at = ?,"
                " name = COALESCE(NULLIF(?, ''), name), updated_at = ?"
                " WHERE id = ?",
                (consent, now, name, now, existing.id),
            )
        added = get(conn, address)
    assert added is not None
    return added


NO_CONSENT_ONE = (
    "no consent recorded: give --consent with how and when they agreed to receive the "
    "newsletter (e.g. --consent 'signed up at the front desk, 2026-03-02')"
)


def _status_date(subscriber: Subscriber) -> str:
    if subscriber.status == "unsubscribed" and subscriber.unsubscribed_at:
        return subscriber.unsubscribed_at
    return subscriber.updated_at


NAME_LIMIT = 200
"""Characters in a name: a greeting and a To header, not a document."""

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def clean_name(name: str) -> str:
    """The name as stored: one line of printable text, single spaces, at most NAME_LIMIT.

    Called once, by `add` and by the CSV import, so every stored name is already safe for a
    greeting and a header. RFC 2047 encoded words (`=?utf-8?q?...?=`, as some exports
    write names) are decoded first, so one that hides a CR, LF or NUL is cleaned like the
    plain character. Control, format-direction and separator characters become spaces;
    unpaired surrogates (from undecodable command-line bytes) are dropped. Raises
    ValueError for a name longer than the limit.
    """
    if "=?" in name and _ENCODED_WORD.search(name):
        name = _decode_encoded_words(name)
    if name.isprintable():  # the common case: no control, format or separator character
        # Here the only white space is " ": a name with single inner spaces is kept as is.
        if "  " in name or name.startswith(" ") or name.endswith(" "):
            name = " ".join(name.split())
        return name if len(name) <= NAME_LIMIT else _within_limit(name)
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category == "Cs":
            continue
        if category in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            kept.append(" ")
        else:
            kept.append(char)
    return _within_limit(" ".join("".join(kept).split()))


def _within_limit(cleaned: str) -> str:
    if len(cleaned) > NAME_LIMIT:
        raise ValueError(
            f"the name is {len(cleaned):,} characters long; at most {NAME_LIMIT} are kept "
            "(it goes into the greeting and the To header)"
        )
    return cleaned


def _decode_encoded_words(name: str) -> str:
    """Decode each RFC 2047 word as a mail reader would; an undecodable one stays as written."""
    return _ENCODED_WORD.sub(_decode_word, _BETWEEN_WORDS.sub(r"\1\2", name))


_BETWEEN_WORDS = re.compile(r"(\?=)\s+(=\?)")
"""White space between two encoded words is not part of the text (RFC 2047 6.2)."""


def _decode_word(match: re.Match[str]) -> str:
    import email.errors  # the email package: only for a name that holds an encoded word
    import email.header

    try:
        ((data, charset),) = email.header.decode_header(match.group(0))
        if isinstance(data, str):
            return data
        return str(data.decode(charset or "ascii", "replace"))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return match.group(0)


def _set_status(conn: sqlite3.Connection, email: str, status: str, now: str | None) -> Subscriber:
    """`escalate_status` for an address that must be listed: a status only moves up."""
    address = _valid(email)
    result = escalate_status(conn, address, status, now=now)
    if result is None:
        raise NewsletterError.single(address, "not in the subscriber list")
    return result[0]


def mark_unsubscribed(
    conn: sqlite3.Connection, email: str, *, now: str | None = None
) -> Subscriber:
    """Stop mail to this address; the row stays, with the date, as proof of the request."""
    return _set_status(conn, email, "unsubscribed", now)


def mark_bounced(conn: sqlite3.Connection, email: str, *, now: str | None = None) -> Subscriber:
    """Stop mail to an address that hard-bounced; imports will not re-activate it."""
    return _set_status(conn, email, "bounced", now)


def mark_complained(conn: sqlite3.Connection, email: str, *, now: str | None = None) -> Subscriber:
    """Stop mail to someone who reported it as spam."""
    return _set_status(conn, email, "complained", now)


def iter_subscribers(
    conn: sqlite3.Connection, *, status: str | None = None, after_id: int = 0
) -> Iterator[Subscriber]:
    """Subscribers in id order, one row at a time from the cursor: memory stays flat.

    `after_id` resumes after the last one handled. Rows are fetched on a cursor of their own,
    so the caller may write (e.g. a ledger) on the same connection while iterating.
    """
    if status is not None and status not in STATUSES:
        raise NewsletterError.single(
            "--status", f"expected one of {', '.join(STATUSES)}, got {status!r}"
        )
    where, params = "WHERE id > ?", [after_id]
    if status is not None:
        where += " AND status = ?"
        params.append(status)  # type: ignore[arg-type]
    cursor = conn.execute(f"{_SELECT} {where} ORDER BY id", params)
    try:
        for row in cursor:
            yield Subscriber(*row)
    finally:
        cursor.close()


def iter_active(conn: sqlite3.Connection, *, after_id: int = 0) -> Iterator[Subscriber]:
    """Everyone who should receive the next issue, in a stable order, streamed."""
    return iter_subscribers(conn, status="active", after_id=after_id)


def count_by_status(conn: sqlite3.Connection) -> dict[str, int]:
    """Subscribers per status, every status present (0 when none)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, number in conn.execute("SELECT status, COUNT(*) FROM subscribers GROUP BY status"):
        counts[status] = number
    return counts


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading `'`.

    Names and consent text come from subscribers and imports; `=HYPERLINK(...)` in one
    would run when the practitioner opens the export (OWASP "CSV injection").
    """
    if value is None:
        return ""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def export_csv(conn: sqlite3.Connection, out: TextIO, *, status: str | None = None) -> int:
    """Write every column of every row as CSV (header first); return the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    for subscriber in iter_subscribers(conn, status=status):
        writer.writerow([spreadsheet_safe(v) for v in vars(subscriber).values()])
        rows += 1
    return rows


@dataclass(frozen=True)
class ImportCounts:
    """What an import did (or, in a dry run, would do) to the list."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    """Unsubscribed, bounced or complained: never made active again by an import."""


IMPORT_BATCH = 5000
"""Rows per import transaction: short enough that a send, the web service or another
writer never waits long for the lock (a batch of a 100,000-row import holds it for about
0.1 s), long enough that the random unsubscribe-id index is not rewritten too often
(each batch touches most of its pages)."""

_INCOMING_ROWS = 1000
"""Rows per INSERT into the batch's table: one statement binds 4,000 values (SQLite allows
32,766), half the cost of one statement per row."""


def import_rows(
    conn: sqlite3.Connection,
    rows: Iterable[tuple[str, str, str]],
    *,
    source: str,
    dry_run: bool = False,
    now: str | None = None,
) -> ImportCounts:
    """Merge (email, name, consent) rows, unique by address, into the list in short batches.

    New addresses are added as active with their consent; active ones get a changed name;
    anyone who left stays as they are. Each batch is its own transaction, so other
    processes write between them. A dry run counts the same way and writes nothing.
    """
    now = now or now_utc()
    conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS incoming (key TEXT PRIMARY KEY, email TEXT NOT NULL,"
        " name TEXT NOT NULL, consent TEXT NOT NULL)"
    )
    total = ImportCounts()
    remaining = iter(rows)
    try:
        while batch := [
            (email_key(email), email, name, consent)
            for email, name, consent in itertools.islice(remaining, IMPORT_BATCH)
        ]:
            total = _add_counts(total, _patient_batch(conn, batch, source, now, dry_run))
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.incoming")
    return total


def _patient_batch(
    conn: sqlite3.Connection,
    batch: list[tuple[str, str, str, str]],
    source: str,
    now: str,
    dry_run: bool,
) -> ImportCounts:
    """A batch that waits for another writer (a long send, the web service) to finish."""
    from newsletter.mail.database import patiently

    return patiently(lambda: _import_batch(conn, batch, source, now, dry_run), patience=300)


def _add_counts(a: ImportCounts, b: ImportCounts) -> ImportCounts:
    return ImportCounts(
        a.added + b.added, a.updated + b.updated, a.unchanged + b.unchanged, a.skipped + b.skipped
    )


def _listed(conn: sqlite3.Connection, now: str) -> tuple[list[tuple[str, str, str]], int, int]:
    """(name, now, key) of each active subscriber of the batch whose name changes, how many
    of the batch are not active, and how many are listed at all.

    One look-up of the batch's addresses, driven from the batch through the email_key index:
    CROSS JOIN keeps the batch as the outer loop, otherwise SQLite walks every subscriber
    once per batch (quadratic in the list's size).
    """
    renamed, skipped, listed = [], 0, 0
    for key, name, status, old in conn.execute(
        "SELECT i.key, i.name, s.status, s.name FROM temp.incoming i"
        " CROSS JOIN subscribers s ON s.email_key = i.key"
    ):
        listed += 1
        if status != "active":
            skipped += 1
        elif name != "" and name != old:
            renamed.append((name, now, key))
    return renamed, skipped, listed


def _fill_incoming(conn: sqlite3.Connection, batch: list[tuple[str, str, str, str]]) -> None:
    """The batch's (key, email, name, consent) rows into temp.incoming, many per statement."""
    for start in range(0, len(batch), _INCOMING_ROWS):
        part = batch[start : start + _INCOMING_ROWS]
        conn.execute(
            "INSERT OR IGNORE INTO temp.incoming (key, email, name, consent) VALUES "
            + ",".join(("(?, ?, ?, ?)",) * len(part)),
            list(itertools.chain.from_iterable(part)),
        )


def _import_batch(
    conn: sqlite3.Connection,
    batch: list[tuple[str, str, str, str]],
    source: str,
    now: str,
    dry_run: bool,
) -> ImportCounts:
    """One batch in one transaction; a dry run only reads (no write lock on the list)."""
    conn.execute("BEGIN" if dry_run else "BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM temp.incoming")
        _fill_incoming(conn, batch)
        total = conn.execute("SELECT COUNT(*) FROM temp.incoming").fetchone()[0]
        renamed, skipped, listed = _listed(conn, now)
        added, updated = total - listed, len(renamed)
        if not dry_run:
            # The opaque token id is drawn here rather than by the insert trigger: one
            # statement per batch instead of one more per row.
            conn.execute(
                "INSERT INTO subscribers (email, email_key, name, status, source, consent,"
                " consent_at, created_at, updated_at, token_id)"
                " SELECT i.email, i.key, i.name, 'active', ?, i.consent, ?, ?, ?,"
                " randomblob(12)"
                " FROM temp.incoming i WHERE NOT EXISTS"
                " (SELECT 1 FROM subscribers s WHERE s.email_key = i.key) ORDER BY i.rowid",
                (source, now, now, now),
            )
            conn.executemany(
                "UPDATE subscribers SET name = ?, updated_at = ? WHERE email_key = ?", renamed
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("ROLLBACK" if dry_run else "COMMIT")
    return ImportCounts(added, updated, total - added - updated - skipped, skipped)


def export_csv_file(conn: sqlite3.Connection, file: Path) -> int:
    """Export to a file, replaced only once complete: a failed export leaves the old one."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f".{file.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            rows = export_csv(conn, out)
        partial.replace(file)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise NewsletterError.single(
            str(file), f"cannot write the export: {exc.strerror}"
        ) from None
    return rows


# --- status changes from the mailbox (newsletter inbox) ----------------------------------------

_RANK = {"active": 0, "bounced": 1, "unsubscribed": 2, "complained": 3}
"""A status read from the mailbox only ever moves up: a bounce never hides an unsubscribe
request, and nothing but new consent (`add --resubscribe`) undoes a complaint."""


def escalate_status(
    conn: sqlite3.Connection, email: str, status: str, *, now: str | None = None
) -> tuple[Subscriber, bool] | None:
    """Move a listed subscriber to `status` when it ranks above their current one.

    Returns (subscriber after, whether it changed), or None when the address is not on the
    list: mail about a stranger never adds anyone. Nests inside the caller's transaction, so
    the event that justifies the change commits with it.
    """
    if status not in _RANK or status == "active":
        raise ValueError(f"not a status the mailbox can set: {status!r}")
    now = now or now_utc()
    with transaction(conn):
        existing = get(conn, email)
        if existing is None:
            return None
        if _RANK[status] <= _RANK[existing.status]:
            return existing, False
        conn.execute(
            "UPDATE subscribers SET status = ?, updated_at = ?,"
            " unsubscribed_at = CASE WHEN ? = 'unsubscribed' THEN ? ELSE unsubscribed_at END"
            " WHERE id = ?",
            (status, now, status, now, existing.id),
        )
        changed = get(conn, email)
    assert changed is not None
    return changed, True


# --- opaque tokens and the web service (newsletter serve) -------------------------------------


_LINK_ID = "lower(hex(token_id))"
"""The opaque id as links carry it: the table keeps its 12 bytes (a smaller index)."""


def token_id_for(conn: sqlite3.Connection, email: str) -> str | None:
    """The opaque id that this address's unsubscribe links carry; None when not listed."""
    row = conn.execute(
        f"SELECT {_LINK_ID} FROM subscribers WHERE email_key = ?", (email_key(email),)
    ).fetchone()
    return row[0] if row is not None else None


def token_ids_for(conn: sqlite3.Connection, emails: Iterable[str]) -> dict[str, str]:
    """`token_id_for` of many addresses in one query (a send asks once per claimed batch):
    address as given -> its id, for those listed."""
    keys = {email: email_key(email) for email in emails}
    if not keys:
        return {}
    marks = ",".join("?" * len(set(keys.values())))
    found = dict(
        conn.execute(
            f"SELECT email_key, {_LINK_ID} FROM subscribers WHERE email_key IN ({marks})",
            tuple(set(keys.values())),
        ).fetchall()
    )
    return {email: found[key] for email, key in keys.items() if found.get(key)}


def by_token(conn: sqlite3.Connection, verified: tokens.Verified) -> Subscriber | None:
    """Whom a verified token names: an opaque id, or (old tokens) an address."""
    if verified.kind == "address":
        return get(conn, verified.value)
    ident = bytes.fromhex(verified.value)  # read() let only 24 hex digits through
    return _row(conn.execute(f"{_SELECT} WHERE token_id = ?", (ident,)).fetchone())


class Unsubscribed(NamedTuple):
    subscriber: Subscriber
    already: bool
    """They had unsubscribed before; nothing was changed this time."""


def unsubscribe(
    conn: sqlite3.Connection, subscriber: Subscriber, *, via: str, now: str | None = None
) -> Unsubscribed:
    """Stop mail to this subscriber, recording when and how; doing it twice changes nothing.

    One statement, so the write lock is held for microseconds even while a send runs.
    """
    now = now or now_utc()
    changed = conn.execute(
        "UPDATE subscribers SET status = 'unsubscribed', unsubscribed_at = ?,"
        " unsubscribed_via = ?, updated_at = ?"
        " WHERE id = ? AND status NOT IN ('unsubscribed', 'complained')"
        f" RETURNING {', '.join(COLUMNS)}",
        (now, via, now, subscriber.id),
    ).fetchone()
    if changed is None:
        return Unsubscribed(subscriber, True)
    return Unsubscribed(Subscriber(*changed), False)


def unsubscribed_via(conn: sqlite3.Connection, subscriber_id: int) -> str:
    """How they unsubscribed ('one-click', 'web page', ...); '' when not recorded."""
    row = conn.execute(
        "SELECT unsubscribed_via FROM subscribers WHERE id = ?", (subscriber_id,)
    ).fetchone()
    return row[0] if row is not None else ""


def confirm(
    conn: sqlite3.Connection, email: str, *, name: str, consent: str, now: str | None = None
) -> tuple[Subscriber, bool]:
    """Activate a confirmed sign-up, recording the consent; returns (subscriber, newly active).

    This is how someone who had left comes back: they asked, and proved the address is
    theirs. An address already active keeps its original consent.
    """
    address = _valid(email)
    now = now or now_utc()
    with transaction(conn):
        existing = get(conn, address)
        if existing is not None and existing.status == "active":
            return existing, False
        add(
            conn,
            address,
            consent=consent,
            name=name,
            source="web form",
            resubscribe=True,
            now=now,
        )
        conn.execute(
            "UPDATE subscribers SET unsubscribed_via = '' WHERE email_key = ?",
            (email_key(address),),
        )
        confirmed = get(conn, address)
    assert confirmed is not None
    return confirmed, True


# --- people an export says have left (Mailchimp unsubscribed/cleaned, Square, backups) ---------


LEFT_STATUSES = ("unsubscribed", "bounced", "complained")


class _DryRun(Exception):
    """Raised inside a transaction to roll back what a dry run wrote."""


@dataclass(frozen=True)
class LeaverCounts:
    """What an import did with the rows of people who left or whose address bounces."""

    recorded: int = 0
    """Addresses new to the list, stored as unsubscribed, bounced or complained."""
    stopped: int = 0
    """Active subscribers who are no longer active."""
    unchanged: int = 0
    """Already not active: left as they are (an unsubscribe is never turned into a bounce)."""

    @property
    def total(self) -> int:
        return self.recorded + self.stopped + self.unchanged


def import_leavers(
    conn: sqlite3.Connection,
    rows: Iterable[tuple[str, str, str]],
    *,
    source: str,
    dry_run: bool = False,
    now: str | None = None,
) -> LeaverCounts:
    """Merge (email, name, status) rows of people who left, status one of LEFT_STATUSES.

    A new address is stored with that status (never active, no consent recorded), so a later
    import of another list cannot make it active; an active subscriber stops being active;
    anyone already not active keeps the status and date they have.
    """
    now = now or now_utc()
    counts = LeaverCounts()
    try:
        with transaction(conn):
            conn.execute(
                "CREATE TEMP TABLE leaving (key TEXT PRIMARY KEY, email TEXT NOT NULL,"
                " name TEXT NOT NULL, status TEXT NOT NULL)"
            )
            conn.executemany(
                "INSERT INTO temp.leaving (key, email, name, status) VALUES (?, ?, ?, ?)",
                ((email_key(e), e, n, s) for e, n, s in rows if s in LEFT_STATUSES),
            )
            recorded, stopped, unchanged = conn.execute(
                "SELECT COALESCE(SUM(s.id IS NULL), 0), COALESCE(SUM(s.status = 'active'), 0),"
                " COALESCE(SUM(s.status != 'active'), 0)"
                " FROM temp.leaving l LEFT JOIN subscribers s ON s.email_key = l.key"
            ).fetchone()
            counts = LeaverCounts(recorded, stopped, unchanged)
            conn.execute(
                "UPDATE subscribers SET status = l.status, updated_at = ?,"
                " unsubscribed_at = CASE WHEN l.status = 'unsubscribed' THEN ?"
                " ELSE unsubscribed_at END"
                " FROM temp.leaving l WHERE subscribers.email_key = l.key"
                " AND subscribers.status = 'active'",
                (now, now),
            )
            conn.execute(
                "INSERT INTO subscribers (email, email_key, name, status, source, consent,"
                " consent_at, created_at, updated_at, unsubscribed_at)"
                " SELECT l.email, l.key, l.name, l.status, ?, '', '', ?, ?,"
                " CASE WHEN l.status = 'unsubscribed' THEN ? END"
                " FROM temp.leaving l WHERE NOT EXISTS"
                " (SELECT 1 FROM subscribers s WHERE s.email_key = l.key) ORDER BY l.rowid",
                (source, now, now, now),
            )
            conn.execute("DROP TABLE temp.leaving")
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return counts


def import_contacts(
    conn: sqlite3.Connection,
    joining: Iterable[tuple[str, str, str]],
    leaving: Iterable[tuple[str, str, str]],
    *,
    source: str,
    dry_run: bool = False,
    now: str | None = None,
) -> tuple[ImportCounts, LeaverCounts]:
    """One file's (email, name, consent) joiners and (email, name, status) leavers.

    Joiners go in short batches (a send or the web service writes between them), then the
    leavers in one transaction. The two sets hold different addresses (the reader keeps the
    first row of each), so their order does not matter; a re-run finishes a killed import.
    """
    now = now or now_utc()
    counts = import_rows(conn, joining, source=source, dry_run=dry_run, now=now)
    left = import_leavers(conn, leaving, source=source, dry_run=dry_run, now=now)
    return counts, left


# --- what the send ledger asks of the list (it never writes this table itself) -------------


def inactive_among(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, str]:
    """The status of each of these subscribers who is no longer active (left the list)."""
    wanted = tuple(ids)
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    return {
        row[0]: row[1]
        for row in conn.execute(
            f"SELECT id, status FROM subscribers WHERE id IN ({marks}) AND status != 'active'",
            wanted,
        )
    }


def mark_bounced_by_id(conn: sqlite3.Connection, subscriber_id: int, *, now: str) -> None:
    """A 5.1.x reply during a send: this active subscriber's address is dead."""
    with transaction(conn):
        conn.execute(
            "UPDATE subscribers SET status = 'bounced', updated_at = ? "
            "WHERE id = ? AND status = 'active'",
            (now, subscriber_id),
        )


def count_active(conn: sqlite3.Connection) -> int:
    return int(
        conn.execute("SELECT count(*) FROM subscribers WHERE status = 'active'").fetchone()[0]
    )
