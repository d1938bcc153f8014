"""The classifier and decision on the corpus, without a server: each mail's kind and target."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from inbox_support import EXPECT, SECRET, add_readers, corpus_names, fill, send, smtp_env

from newsletter.inbox.classify import code_in, read, severity
from newsletter.inbox.decide import decide
from newsletter.inbox.directory import Directory
from newsletter.inbox.parse import parse_notice
from newsletter.load.config import load_config
from newsletter.mail import database
from newsletter.workspace import Paths


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    """One real send of the example issue to every reader the corpus names."""
    from _pytest.monkeypatch import MonkeyPatch
    from conftest import TEST_SECRET, copy_example

    root = copy_example(tmp_path_factory.mktemp("inbox") / "ws")
    patch = MonkeyPatch()
    patch.setenv("NEWSLETTER_SECRET", TEST_SECRET)
    patch.setenv("NEWSLETTER_CACHE_DIR", str(root / ".cache"))
    try:
        add_readers(root / "data" / "newsletter.db")
        with smtp_env(patch) as sink:
            sent = send(root, "2026-12", sink)
    finally:
        patch.undo()
    conn = database.connect(root / "data" / "newsletter.db")
    directory = Directory(conn, config=load_config(Paths(root)), secret=SECRET)
    yield sent, directory
    conn.close()


@pytest.mark.parametrize("name", corpus_names())
def test_each_corpus_mail_gets_its_decision(world, name: str) -> None:
    """Every real-shaped mail is classified as expect.toml says, about the right address."""
    sent, directory = world
    notice = parse_notice(fill(name, sent))
    decision = decide(notice, read(notice), directory)
    label, address, _ = EXPECT[name]
    assert decision.label == label, decision
    assert decision.file == (label != "other")
    if label not in ("other", "delay", "auto-reply"):
        assert [e.email for e in decision.events] == [address]


def test_hard_bounce_events_carry_the_code_and_the_servers_words(world) -> None:
    """A hard bounce records the enhanced status code and the diagnostic text."""
    sent, directory = world
    notice = parse_notice(fill("postfix_hard.eml", sent))
    (event,) = decide(notice, read(notice), directory).events
    assert event.kind == "hard" and event.status_code == "5.1.1"
    assert "User unknown in virtual mailbox table" in event.diagnostic
    assert event.send_key == "2026-12"


def test_a_relay_that_rewrote_the_message_id_is_matched_to_the_send_by_date(world) -> None:
    """Amazon SES replaces the Message-ID: the send is then the live one begun before it."""
    sent, directory = world
    notice = parse_notice(fill("ses_hard.eml", sent))
    (event,) = decide(notice, read(notice), directory).events
    assert event.send_key == "2026-12" and event.status_code == "5.1.1"


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "expected"),
    [
        ("5.1.1", "user unknown", "failed", "hard"),
        ("5.1.10", "RecipientNotFound", "failed", "hard"),
        ("5.4.4", "unable to route", "failed", "hard"),
        ("5.2.2", "mailbox full", "failed", "soft"),
        ("4.4.7", "permanent failure: gave up after 5 days", "failed", "soft"),
        ("4.2.2", "over quota", "failed", "soft"),
        ("4.4.1", "connection refused", "delayed", "delay"),
        ("5.7.1", "message blocked as spam; user unknown", "failed", "policy"),
        ("5.7.26", "unauthenticated email is not accepted (DMARC)", "failed", "policy"),
        ("5.0.0", "no such user here", "failed", "hard"),
        ("5.0.0", "something odd", "failed", "soft"),
        ("", "Sorry, no mailbox here by that name.", "", "hard"),
    ],
)
def test_only_codes_that_say_the_address_is_dead_are_hard(
    status: str, diagnostic: str, action: str, expected: str
) -> None:
    """5.1.x, 5.4.4 (and dead-address words under 5.0.0) are hard; 4.x.x and 5.2.2 soft,
    whatever the wording; 5.7.x is a policy block; a delay is not a bounce."""
    assert severity(status, diagnostic, action) == expected


def test_status_codes_are_read_from_server_text() -> None:
    """qmail's (#5.1.1), an SMTP line's 550 5.1.1, and a bare 554 all give a code."""
    assert code_in("Sorry, no mailbox here by that name. (#5.1.1)") == "5.1.1"
    assert code_in("host said: 550 5.1.1 <a@b>: unknown") == "5.1.1"
    assert code_in("554: delivery error: dd This user doesn't have an account") == "5.0.0"
    assert code_in("no code at all") == ""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_parse_and_classify_without_an_exception(data: bytes) -> None:
    """Whatever arrives in the mailbox, reading it never raises (no exit 70 from mail)."""
    read(parse_notice(data))


@settings(max_examples=100, deadline=None)
@given(
    st.text(max_size=300),
    st.sampled_from(["multipart/report; report-type=delivery-status", "text/plain"]),
)
def test_mail_shaped_text_never_raises(body: str, content_type: str) -> None:
    """Odd headers and bodies under a report content type still read without raising."""
    data = (
        f"From: MAILER-DAEMON@x.example\r\nSubject: Undelivered Mail\r\n"
        f"Content-Type: {content_type}; boundary=b\r\n\r\n--b\r\n"
        f"Content-Type: message/delivery-status\r\n\r\n{body}\r\n--b--\r\n"
    ).encode("utf-8", "surrogatepass")
    read(parse_notice(data))


def test_the_corpus_is_listed_whole() -> None:
    """Every .eml in the corpus has an expectation, so none is silently untested."""
    folder = Path(__file__).parent / "corpus" / "inbox"
    assert sorted(p.name for p in folder.glob("*.eml")) == corpus_names()


@settings(max_examples=100, deadline=None)
@given(
    st.from_regex(r"1\.[A-Za-z0-9_-]{4,30}\.[A-Za-z0-9_-]{10,30}", fullmatch=True),
    st.sampled_from(["subject", "body"]),
)
def test_an_unsigned_token_unsubscribes_nobody(world, token: str, where: str) -> None:
    """Any token-shaped string that was not signed with the secret leaves the mail as it is."""
    _, directory = world
    subject, body = ("unsubscribe " + token, "") if where == "subject" else ("unsubscribe", token)
    data = (
        f"From: someone@example.net\r\nTo: unsubscribe@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <u@example.net>\r\n\r\n{body}\r\n"
    ).encode()
    notice = parse_notice(data)
    decision = decide(notice, read(notice), directory)
    assert decision.label == "other" and not decision.file and decision.events == ()


def _to_mailto(world, subject: str, body: str, extra: str = "") -> object:
    _, directory = world
    data = (
        f"From: vic@example.org\r\nTo: unsubscribe@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <m@example.org>\r\n{extra}\r\n{body}\r\n"
    ).encode()
    notice = parse_notice(data)
    return decide(notice, read(notice), directory)


def test_a_reply_quoting_the_newsletter_is_no_request(world) -> None:
    """When the mailto address is also the main mailbox, a reply that quotes the issue (and
    so its reader's token) unsubscribes nobody."""
    sent, _ = world
    token = fill("unsubscribe_token_body.eml", sent).decode().rsplit("\r\n\r\n", 1)[1].strip()
    quoted = f"Lovely issue, thank you!\n\nOn Tue, 1 Dec 2026 Dustin wrote:\n> Unsubscribe: {token}"
    assert _to_mailto(world, "Re: Restless legs", quoted).label == "other"
    long_mail = "A long note about my appointment.\n" * 20 + token
    assert _to_mailto(world, "Appointment", long_mail).label == "other"
    assert _to_mailto(world, "", token).label == "unsubscribe"  # our mailto body, no subject


def test_a_copy_of_the_newsletter_itself_is_no_request(world) -> None:
    """The issue delivered to the mailto address carries tokens but asks for nothing."""
    sent, _ = world
    token = fill("unsubscribe_token_body.eml", sent).decode().rsplit("\r\n\r\n", 1)[1].strip()
    extra = "List-Id: Notes from the Table <notes.news.example.org>\r\n"
    assert _to_mailto(world, "unsubscribe", token, extra).label == "other"
