"""The IMAP mailbox: log in (TLS verified), list, read without marking read, move.

IMAPClient over the stdlib imaplib: it parses FETCH responses and folder lists, quotes folder
names (modified UTF-7) and speaks MOVE, which imaplib leaves to the caller.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from newsletter.errors import NewsletterError, Problem
from newsletter.model import InboxSettings

BATCH = 200
"""Messages per FETCH or MOVE command: few round trips, bounded memory."""


class InboxError(NewsletterError):
    """The mailbox could not be reached or used: one line, nothing was changed."""

    @classmethod
    def line(cls, message: str) -> InboxError:
        return cls([Problem("inbox", 0, message)])


def _where(settings: InboxSettings) -> str:
    return f"{settings.host}:{settings.port} ({settings.security})"


def _connect(settings: InboxSettings) -> Any:
    context = ssl.create_default_context()
    client = IMAPClient(
        settings.host,
        port=settings.port,
        ssl=settings.security == "ssl",
        ssl_context=context,
        timeout=settings.timeout or None,
    )
    if settings.security == "starttls":
        client.starttls(context)
    return client


def _tls_message(exc: ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's certificate is not trusted ({exc.verify_message})"
    return f"TLS failed ({exc.reason or exc})"


class Mailbox:
    """A logged-in connection; every server call that can fail says so in one line."""

    def __init__(self, client: Any, settings: InboxSettings) -> None:
        self.client = client
        self.settings = settings

    @classmethod
    @contextmanager
    def open(cls, settings: InboxSettings) -> Iterator[Mailbox]:
        where = _where(settings)
        try:
            client = _connect(settings)
        except ssl.SSLError as exc:
            raise InboxError.line(f"cannot connect to {where}: {_tls_message(exc)}") from None
        except (OSError, IMAPClientError) as exc:
            raise InboxError.line(f"cannot connect to {where}: {_os_message(exc)}") from None
        try:
            client.login(settings.username, settings.password)
        except LoginError as exc:
            client.shutdown()
            raise InboxError.line(
                f"{where} refused the login of {settings.username!r}: {_text(exc)}; check "
                "inbox.username and NEWSLETTER_IMAP_PASSWORD (or data/imap_password)"
            ) from None
        except (OSError, IMAPClientError) as exc:
            client.shutdown()
            raise InboxError.line(f"cannot log in to {where}: {_os_message(exc)}") from None
        mailbox = cls(client, settings)
        try:
            yield mailbox
        except (OSError, IMAPClientError) as exc:
            raise InboxError.line(
                f"the connection to {where} failed: {_os_message(exc)}; nothing is lost, "
                "run `newsletter inbox` again to finish"
            ) from None
        finally:
            try:
                client.logout()
            except (OSError, IMAPClientError):
                client.shutdown()

    def folder_name(self, path: str) -> str:
        """A `/`-separated path in the server's own hierarchy separator."""
        folders = self.client.list_folders("", "")
        separator = folders[0][1] if folders and folders[0][1] else b"/"
        sep = separator.decode() if isinstance(separator, bytes) else str(separator)
        return sep.join(part for part in path.split("/") if part)

    def ensure_folder(self, name: str) -> bool:
        """Create the folder when missing; True when it had to be made."""
        if self.client.folder_exists(name):
            return False
        self.client.create_folder(name)
        self.client.subscribe_folder(name)
        return True

    def select(self, folder: str, *, readonly: bool) -> None:
        try:
            self.client.select_folder(folder, readonly=readonly)
        except IMAPClientError as exc:
            raise InboxError.line(
                f"cannot open the folder {folder!r} on {_where(self.settings)}: {_text(exc)}"
            ) from None

    def uids(self, since: dt.date | None) -> list[int]:
        criteria: list[Any] = ["NOT", "DELETED"]
        if since is not None:
            criteria += ["SINCE", since]
        return sorted(self.client.search(criteria))

    def headers(self, uids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """Each message's header block; PEEK leaves \\Seen as it was."""
        yield from self._fetch(uids, b"BODY.PEEK[HEADER]", b"BODY[HEADER]")

    def messages(self, uids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """Each whole message; PEEK leaves \\Seen as it was."""
        yield from self._fetch(uids, b"BODY.PEEK[]", b"BODY[]")

    def _fetch(self, uids: Sequence[int], item: bytes, key: bytes) -> Iterator[tuple[int, bytes]]:
        for start in range(0, len(uids), BATCH):
            batch = list(uids[start : start + BATCH])
            response = self.client.fetch(batch, [item])
            for uid in batch:
                data = response.get(uid, {}).get(key)
                if isinstance(data, bytes):
                    yield uid, data

    def move(self, uids: Sequence[int], folder: str) -> None:
        """MOVE (RFC 6851) keeps flags, so the mail stays unread; never an expunge of its own."""
        for start in range(0, len(uids), BATCH):
            batch = list(uids[start : start + BATCH])
            if self.client.has_capability("MOVE"):
                self.client.move(batch, folder)
            else:
                self.client.copy(batch, folder)
                self.client.delete_messages(batch)
                self.client.uid_expunge(batch)


def _text(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip() or type(exc).__name__


def _os_message(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "no answer (timed out)"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return _text(exc)
