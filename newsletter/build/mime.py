"""RFC 5322 messages assembled from the once-rendered issue: per recipient only a fill and QP.

The constant headers are folded once per issue; each recipient costs a placeholder fill, two
quoted-printable encodings (C code in binascii) and three folded headers. Building a full
``email.message.EmailMessage`` per recipient is ten times slower and gives the same bytes.
"""

from __future__ import annotations

import binascii
import contextlib
import datetime as dt
import email.header
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Mapping

from newsletter.build.placeholders import Compiled, compile_markers, export
from newsletter.build.recipient import Recipient
from newsletter.model import Config, Rendered

_POLICY = email.policy.SMTP.clone(max_line_length=78)
CRLF = b"\r\n"


def clean_header(value: str) -> str:
    """Header values never carry CR or LF: no content or subscriber name can add a header."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _fold(name: str, value: str) -> bytes:
    header = _POLICY.header_factory(name, clean_header(value))
    return str(header.fold(policy=_POLICY)).encode("ascii")


_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
"""Names that need neither quotes nor encoding: the common case, no formatter needed."""


def address_header(field: str, name: str, address: str) -> bytes:
    """`Field: Name <address>` for one recipient, built so no name can change its meaning.

    A plain name goes as is, one with specials quoted, one with non-ASCII (or too long for
    one line) as RFC 2047 encoded words, in which commas, quotes and angle brackets are
    encoded: a name never adds an address. The generic folder is not used because it
    decodes and re-folds such words into a phrase that parses as two addresses. A UTF-8
    local part (`zoë@...`) is written as is: that message goes with SMTPUTF8 (RFC 6532).
    """
    if _UNSAFE_ADDRESS.search(address):
        raise ValueError(f"the address {address!r} holds spaces or control characters")
    address = ascii_domain(address)
    display = clean_header(name)
    if not display:
        return f"{field}: {address}\r\n".encode()
    if _PLAIN_NAME.fullmatch(display):
        quoted = display
    elif display.isascii() and "=?" not in display:
        quoted = email.utils.formataddr((display, _STAND_IN)).removesuffix(f" <{_STAND_IN}>")
    else:
        quoted = ""
    if quoted and len(field) + len(quoted) + len(address) + 5 <= 78:
        return f"{field}: {quoted} <{address}>\r\n".encode()
    words = email.header.Header(display, "utf-8", header_name=field).encode(
        splitchars=" ", maxlinelen=76, linesep="\r\n"
    )
    *_, last = f"{field}: {words}".split("\r\n")
    gap = " " if len(last) + len(address) + 3 <= 78 else "\r\n "
    return f"{field}: {words}{gap}<{address}>\r\n".encode()


_STAND_IN = "a@a"
_UNSAFE_ADDRESS = re.compile(r"[\s\x00-\x1f\x7f<>]")
"""Never in a stored address (imports validate); one written by another tool is refused
rather than let it add a header or an SMTP command."""


def ascii_domain(address: str) -> str:
    """The address with its domain as IDNA A-labels (`bücher.de` -> `xn--bcher-kva.de`), as
    headers and SMTP's envelope both want it; a domain the codec refuses is left as is."""
    if address.isascii() and "@" in address:  # IDNA gives an ASCII domain back as it is
        return address
    local, _, domain = address.rpartition("@")
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def _fold_list(name: str, items: list[str]) -> bytes:
    """Structured ASCII headers (URLs in angle brackets) folded only between items.

    The generic folder would wrap a long token URL in encoded words, which breaks it.
    """
    line = f"{name}: "
    out: list[str] = []
    for i, item in enumerate(items):
        piece = clean_header(item) + ("," if i < len(items) - 1 else "")
        if len(line) + len(piece) > 78 and line.strip() != f"{name}:":
            out.append(line.rstrip())
            line = " "
        line += piece + " "
    out.append(line.rstrip())
    return ("\r\n".join(out) + "\r\n").encode("ascii")


def format_address(name: str, address: str) -> str:
    """`Name <addr>` with the name quoted or RFC 2047-encoded as needed; IDN domains as A-labels."""
    return email.utils.formataddr((clean_header(name), ascii_domain(address)), charset="utf-8")


def _now_date() -> str:
    """RFC 5322 date in UTC as `+0000` (`-0000` would say the zone is unknown)."""
    return email.utils.format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))


class WireMessage(bytes):
    """Message bytes that are already what SMTP's DATA carries, so a transport sends them as is.

    Every line ends in CRLF (no bare CR or LF anywhere) and no line starts with a dot, so
    dot-stuffing (RFC 5321 4.5.2) would change nothing: the same bytes are the .eml file
    and the SMTP transfer. `MessageTemplate.render` makes them; the body's dots are
    encoded once per issue (`_qp`), not searched for in every recipient's copy.
    """

    __slots__ = ()


def _qp(text: str) -> bytes:
    """Quoted-printable with CRLF line ends, no bare CR, and no line starting with a dot or
    longer than 76 characters (RFC 2045 6.7).

    binascii encodes a dot only when it is alone on its line, and lets a line ending in
    encoded whitespace run to 78; such lines are re-broken here, once per issue for the
    constant text.
    """
    data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    lines = encoded.split(b"\n")
    if any(line[:1] == b"." or len(line) > _QP_LINE for line in lines):
        encoded = b"\n".join(
            _rebreak(line) if line[:1] == b"." or len(line) > _QP_LINE else line for line in lines
        )
    return encoded.replace(b"\n", CRLF)


_QP_TOKEN = re.compile(rb"=[0-9A-F]{2}|.", re.DOTALL)
_QP_LINE = 76


def _rebreak(line: bytes) -> bytes:
    """One encoded line re-broken with soft breaks into pieces of at most 76 characters,
    none starting with a dot (a leading dot becomes =2E)."""
    soft = line.endswith(b"=")
    pieces: list[bytes] = []
    current = b""
    for token in _QP_TOKEN.findall(line[:-1] if soft else line):
        if len(current) + len(token) > _QP_LINE - 1:
            pieces.append(current + b"=")
            current = b""
        current += b"=2E" if token == b"." and not current else token
    pieces.append(current + (b"=" if soft else b""))
    return b"\n".join(pieces)


def sender_domain(config: Config) -> str:
    return config.sender_email.rpartition("@")[2] or "localhost"


def message_id(issue_id: str, address: str, *, domain: str, scope: str = "") -> str:
    """Stable per (issue, recipient): a resent message keeps its id, so clients de-duplicate."""
    digest = hashlib.sha256(f"{scope}\0{issue_id}\0{address.lower()}".encode()).hexdigest()[:20]
    return f"<{issue_id}.{digest}@{domain}>"


def list_unsubscribe(url: str, mailto: str) -> list[str]:
    """RFC 2369 items: HTTPS first (one-click capable), then the mailto alternative."""
    return [f"<{u}>" for u in (url, mailto) if u]


def is_https(url: str) -> bool:
    """Whether the URL is https, without parsing it (this runs once per recipient)."""
    return url[:8].lower() == "https://"


class _QpBody:
    """A document QP-encoded once per issue, except the lines that hold a field.

    b2a_qp encodes each input line on its own (soft breaks restart at every newline), so
    encoding the constant lines once and joining them with each recipient's few filled lines
    gives the very bytes of encoding the whole filled document, at a fraction of the cost.
    """

    def __init__(self, compiled: Compiled):
        segments: list[bytes | Compiled] = []
        line: list[str | tuple[str, str]] = []

        def close() -> None:
            if not line:
                return
            if any(isinstance(p, tuple) for p in line):
                segments.append(Compiled(tuple(line)))
            elif segments and isinstance(segments[-1], bytes):
                segments[-1] += _qp("".join(p for p in line if isinstance(p, str)))
            else:
                segments.append(_qp("".join(p for p in line if isinstance(p, str))))
            line.clear()

        for part in compiled.parts:
            if isinstance(part, tuple):
                line.append(part)
                continue
            *complete, rest = part.split("\n")
            for piece in complete:
                line.append(piece + "\n")
                close()
            if rest:
                line.append(rest)
        close()
        self.segments = tuple(segments)

    def encode(self, values: Mapping[str, str]) -> bytes:
        return b"".join(s if isinstance(s, bytes) else _qp(s.fill(values)) for s in self.segments)


class MessageTemplate:
    """One issue's message with everything constant prepared once; `render` makes the bytes."""

    def __init__(
        self,
        rendered: Rendered,
        /,
        *,
        config: Config,
        subject_prefix: str = "",
        date: str | None = None,
        boundary: str | None = None,
        scope: str = "",
    ) -> None:
        issue = rendered.issue
        self.issue_id = issue.id
        self.scope = scope
        self.domain = sender_domain(config)
        self.html = compile_markers(rendered.html, rendered.nonce)
        self.text = compile_markers(rendered.text, rendered.nonce)
        self._html_qp = _QpBody(self.html)
        self._text_qp = _QpBody(self.text)
        # Derived from the content (not the per-render nonce), so rebuilds give the same bytes.
        digest = hashlib.sha256(export(rendered.html, rendered.nonce).encode()).hexdigest()
        self.boundary = boundary or f"=_nl_{digest[:24]}"
        subject = clean_header(f"{subject_prefix}{issue.subject}")
        list_id = f"{clean_header(config.title)} <{config.list_id}>"
        head = [
            _fold("From", format_address(config.sender_name, config.sender_email)),
            _fold("Subject", subject),
            _fold("Date", date or _now_date()),
            b"MIME-Version: 1.0\r\n",
        ]
        if config.reply_to:
            head.append(_fold("Reply-To", config.reply_to))
        head.append(_fold("List-Id", list_id))
        self._head = b"".join(head)
        self._tail_headers = (
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n\r\n'
        ).encode("ascii")
        self._part_text = (
            f"--{self.boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii")
        self._part_html = (
            f"\r\n--{self.boundary}\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode("ascii")
        self._close = f"\r\n--{self.boundary}--\r\n".encode("ascii")

    def render(self, recipient: Recipient) -> WireMessage:
        """The complete message for one recipient, CRLF line endings, no line over 78 + CRLF."""
        headers = [
            self._head,
            address_header("To", recipient.name, recipient.address),
            _fold_list(
                "Message-ID",
                [
                    message_id(
                        self.issue_id, recipient.address, domain=self.domain, scope=self.scope
                    )
                ],
            ),
        ]
        unsubscribe = list_unsubscribe(recipient.unsubscribe_url, recipient.unsubscribe_mailto)
        if unsubscribe:
            headers.append(_fold_list("List-Unsubscribe", unsubscribe))
            if is_https(recipient.unsubscribe_url):
                headers.append(b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
        return WireMessage(
            b"".join(
                [
                    *headers,
                    self._tail_headers,
                    self._part_text,
                    self._text_qp.encode(recipient.values),
                    self._part_html,
                    self._html_qp.encode(recipient.values),
                    self._close,
                ]
            )
        )
