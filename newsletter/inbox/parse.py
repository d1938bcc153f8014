"""One mail's bytes into a Notice: the fields the classifier needs, read with the stdlib parser.

RFC 3464 delivery-status and RFC 5965 feedback-report parts are parsed here field by field;
the non-standard bounce formats (qmail, Exim without a DSN, old Yahoo, Exchange ...) are left
to flufl.bounce's detectors in `bounces`.
"""

from __future__ import annotations

import datetime as dt
import email
import email.header
import email.message
import email.utils
import hashlib
import html
import re
from typing import NamedTuple

Message = email.message.Message


class DsnRecipient(NamedTuple):
    """One per-recipient block of a delivery-status report."""

    address: str
    original: str
    action: str
    status: str
    diagnostic: str


class Returned(NamedTuple):
    """Headers of the returned (or reported) original message, as far as they came back."""

    message_id: str = ""
    date: dt.datetime | None = None
    to: tuple[str, ...] = ()
    list_id: str = ""
    list_unsubscribe: str = ""
    microsoft_recipient: str = ""
    """X-HmXmrOriginalRecipient: Outlook.com's feedback loop keeps the recipient only here."""
    sender: str = ""


class Notice(NamedTuple):
    """What the classifier reads of one mail."""

    notice_id: str
    """The mail's own Message-ID, else a digest of its bytes: the same mail, the same id."""
    date: dt.datetime | None
    sender: str
    subject: str
    to: tuple[str, ...]
    """Every address the mail was delivered to (To, Cc, Delivered-To, X-Original-To ...)."""
    headers: dict[str, str]
    """Lower-cased header name -> its (first) decoded value."""
    references: tuple[str, ...]
    """Message-IDs in In-Reply-To and References."""
    text: str
    """The mail's own text (not the returned original), decoded, HTML reduced to text."""
    report_type: str
    """`delivery-status`, `feedback-report` or empty."""
    dsn: tuple[DsnRecipient, ...]
    feedback: dict[str, str]
    """Fields of a message/feedback-report part, lower-cased names; empty when none."""
    returned: Returned | None
    message: Message


_MSGID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def decode_header(value: str | None) -> str:
    """A header as text: RFC 2047 words decoded, folding undone; never raises."""
    if not value:
        return ""
    try:
        text = str(email.header.make_header(email.header.decode_header(str(value))))
    except (UnicodeError, LookupError, ValueError, email.errors.HeaderParseError):
        text = str(value)
    return " ".join(text.split())


def addresses(*values: str) -> tuple[str, ...]:
    """The addresses in header values, lower-cased, in order, once each."""
    found = [a.strip().lower() for _, a in email.utils.getaddresses(list(values)) if "@" in a]
    return tuple(dict.fromkeys(found))


def parse_date(value: str) -> dt.datetime | None:
    """An RFC 5322 date as aware UTC; None when missing or unreadable."""
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC)


def _payload_text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except (ValueError, AssertionError):
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


_TAGS = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)


def _own_text(message: Message) -> str:
    """Text parts of the mail itself; an attached message/* is someone else's text."""
    pieces: list[str] = []

    def walk(part: Message) -> None:
        kind = part.get_content_type()
        if kind.startswith("message/") or kind == "text/rfc822-headers":
            return
        if part.is_multipart():
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    walk(sub)
            return
        if kind == "text/plain":
            pieces.append(_payload_text(part))
        elif kind == "text/html":
            pieces.append(html.unescape(_TAGS.sub(" ", _payload_text(part))))

    walk(message)
    return "\n".join(pieces)


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """A message/delivery-status or feedback-report body as blocks of lower-cased fields."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):  # the stdlib parsed the blocks as header sets
        for sub in payload:
            if isinstance(sub, Message):
                blocks.append({k.lower(): decode_header(v) for k, v in sub.items()})
        return blocks
    text = _payload_text(part)
    for chunk in re.split(r"\r?\n\s*\r?\n", text):
        parsed = email.message_from_string(chunk.strip() + "\n")
        fields = {k.lower(): decode_header(v) for k, v in parsed.items()}
        if fields:
            blocks.append(fields)
    return blocks


def _typed_address(value: str) -> str:
    """`rfc822; Ann <ann@example.org>` -> ann@example.org."""
    value = value.split(";", 1)[1] if ";" in value else value
    found = addresses(value)
    if found:
        return found[0]
    value = value.strip().strip("<>").strip().lower()
    return value if "@" in value else ""


def _dsn(part: Message) -> tuple[DsnRecipient, ...]:
    recipients = []
    for fields in _field_blocks(part)[1:] or _field_blocks(part):
        final = _typed_address(fields.get("final-recipient", ""))
        original = _typed_address(fields.get("original-recipient", ""))
        if not (final or original):
            continue
        diagnostic = fields.get("diagnostic-code", "")
        diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic else diagnostic
        recipients.append(
            DsnRecipient(
                final or original,
                original,
                fields.get("action", "").strip().lower(),
                fields.get("status", "").strip().split(" ")[0],
                diagnostic,
            )
        )
    return tuple(recipients)


def _returned(part: Message) -> Returned:
    """Headers of a message/rfc822 or text/rfc822-headers part."""
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        original = payload[0]
    else:
        original = email.message_from_string(_payload_text(part).lstrip())
    return _returned_from(original)


def _returned_from(original: Message) -> Returned:
    get = original.get
    ids = _MSGID.findall(str(get("Message-ID", "")))
    return Returned(
        message_id=ids[0] if ids else "",
        date=parse_date(str(get("Date", ""))),
        to=addresses(str(get("To", "")), str(get("Cc", ""))),
        list_id=decode_header(get("List-Id")),
        list_unsubscribe=decode_header(get("List-Unsubscribe")),
        microsoft_recipient=decode_header(get("X-HmXmrOriginalRecipient")),
        sender=(addresses(str(get("From", ""))) or ("",))[0],
    )


def _parts(message: Message) -> list[Message]:
    return list(message.walk())


_INLINE_COPY = re.compile(
    r"^-+ ?(?:Below this line is a copy of the message|This is a copy of the message"
    r"|Enclosed are the original headers|Original message follows|The header of the original"
    r"|Original message headers)[^\n]*$",
    re.M | re.I,
)


def _inline_returned(text: str) -> Returned | None:
    """The original's headers when a plain-text bounce (qmail, Exim) quotes them inline."""
    marker = _INLINE_COPY.search(text)
    if marker is None:
        return None
    original = email.message_from_string(text[marker.end() :].lstrip())
    if not original.keys():
        return None
    return _returned_from(original)


def parse_notice(data: bytes) -> Notice:
    """Read one mail; anything malformed degrades to empty fields, never an exception."""
    message = email.message_from_bytes(data)
    headers: dict[str, str] = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), decode_header(value))
    ids = _MSGID.findall(headers.get("message-id", ""))
    notice_id = ids[0] if ids else "sha256:" + hashlib.sha256(data).hexdigest()[:32]
    report_type = ""
    if message.get_content_type() == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
    dsn: tuple[DsnRecipient, ...] = ()
    feedback: dict[str, str] = {}
    returned: Returned | None = None
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/delivery-status" and not dsn:
            dsn = _dsn(part)
            report_type = report_type or "delivery-status"
        elif kind == "message/feedback-report" and not feedback:
            blocks = _field_blocks(part)
            feedback = blocks[0] if blocks else {}
            report_type = report_type or "feedback-report"
        elif kind in ("message/rfc822", "text/rfc822-headers") and returned is None:
            returned = _returned(part)
    to = addresses(
        *(
            headers.get(h, "")
            for h in ("to", "cc", "delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
        )
    )
    text = _own_text(message)
    if returned is None:
        returned = _inline_returned(text)
    references = tuple(
        _MSGID.findall(headers.get("in-reply-to", "") + " " + headers.get("references", ""))
    )
    return Notice(
        notice_id=notice_id,
        date=parse_date(headers.get("date", "")),
        sender=(addresses(headers.get("from", "")) or ("",))[0],
        subject=headers.get("subject", ""),
        to=to,
        headers=headers,
        references=references,
        text=text,
        report_type=report_type,
        dsn=dsn,
        feedback=feedback,
        returned=returned,
        message=message,
    )
