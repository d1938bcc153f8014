"""The inbox tests' world: a list, a real send of the example issue to it, and the corpus
filled in from what that send really handed over."""

from __future__ import annotations

import datetime as dt
import email
import email.utils
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner
from conftest import TEST_SECRET
from smtp_sink import Sink

from newsletter import tokens
from newsletter.cli import main
from newsletter.mail import database, subscribers

CORPUS = Path(__file__).parent / "corpus" / "inbox"
SECRET = TEST_SECRET  # what conftest sets NEWSLETTER_SECRET to
EXPECT: dict[str, list[str]] = tomllib.loads((CORPUS / "expect.toml").read_text())
READERS = sorted(
    {address for _, address, _ in EXPECT.values() if address}
    | {"yan@example.org", "zoe@example.org"}
)


def add_readers(db: Path, readers: list[str] = READERS) -> None:
    conn = database.connect(db)
    try:
        for address in readers:
            subscribers.add(conn, address, name=address.split("@")[0].title(), consent="test")
    finally:
        conn.close()


@contextmanager
def smtp_env(monkeypatch) -> Iterator[Sink]:  # type: ignore[no-untyped-def]
    with Sink() as sink:
        monkeypatch.setenv("NEWSLETTER_SMTP_HOST", sink.host)
        monkeypatch.setenv("NEWSLETTER_SMTP_PORT", str(sink.port))
        monkeypatch.setenv("NEWSLETTER_SMTP_SECURITY", "none")
        yield sink


def send(root: Path, issue_id: str, sink: Sink) -> dict[str, bytes]:
    """Send the issue for real (to the sink); each address -> the bytes it was handed."""
    before = len(sink.received)
    # --offline --skip-check: the corpus is written for the example's own (reserved) sender,
    # and nothing here publishes the web version.
    args = ["--root", str(root), "send", issue_id, "--yes", "--offline", "--skip-check"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return {r.recipient.lower(): r.data for r in sink.received[before:]}


def add_issue(root: Path, issue_id: str, date: str) -> None:
    """Another issue like the example one, for tests that need several sends."""
    text = (root / "content" / "issues" / "2026-12.md").read_text()
    text = re.sub(r"^date: .*$", f"date: {date}", text, count=1, flags=re.M)
    (root / "content" / "issues" / f"{issue_id}.md").write_text(text)


def _headers(data: bytes) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    return head.replace("\r\n", "\n")


def _token(data: bytes) -> str:
    header = str(email.message_from_bytes(data)["List-Unsubscribe"])
    found = re.search(r"token=([^>&\s]+)", header)
    assert found
    return found.group(1)


def _forged(signer: str, victim: str) -> str:
    """The victim's address in the token, with the signer's signature: a forgery."""
    version, _, signature = tokens.sign(signer, SECRET).split(".")
    _, payload, _ = tokens.sign(victim, SECRET).split(".")
    return f"{version}.{payload}.{signature}"


def fill(name: str, sent: dict[str, bytes]) -> bytes:
    """A corpus file with its placeholders filled from the real send, CRLF line ends."""
    text = (CORPUS / name).read_text()

    def value(match: re.Match[str]) -> str:
        what, _, arg = match.group(1).partition(":")
        if what == "original-headers":
            return _headers(sent[arg])
        if what == "message-id":
            return str(email.message_from_bytes(sent[arg])["Message-ID"])
        if what == "token":
            return _token(sent[arg])
        if what == "date-after":  # a relay's own Date, minutes after the send's
            sent_at = email.utils.parsedate_to_datetime(
                str(email.message_from_bytes(sent[arg])["Date"])
            )
            return email.utils.format_datetime(sent_at + dt.timedelta(minutes=3))
        if what == "forged-token":
            return _forged(*arg.split(":"))
        raise KeyError(what)

    text = re.sub(r"%%([a-z-]+:[^%]+)%%", value, text)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def corpus_names() -> list[str]:
    return sorted(EXPECT)


def status_of(db: Path) -> dict[str, str]:
    conn = database.connect(db)
    try:
        return {s.email: s.status for s in subscribers.iter_subscribers(conn)}
    finally:
        conn.close()
