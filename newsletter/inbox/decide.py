"""What to do about one mail: which subscriber it concerns, which send, and whether to file it.

Pure given a Directory (the list, the sends, the token check): the same mail and the same
list always give the same decision, which is what makes a re-run change nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, NamedTuple, Protocol

from newsletter.inbox.classify import Failure, Reading
from newsletter.inbox.parse import Notice

EventKind = Literal["hard", "soft", "policy", "complaint", "unsubscribe"]


class Event(NamedTuple):
    """One fact to record about one address."""

    email: str
    kind: EventKind
    status_code: str = ""
    diagnostic: str = ""
    send_key: str = ""


class Decision(NamedTuple):
    """`file`: move the mail to the processed folder; False leaves it exactly as it was."""

    label: str
    """hard bounce, soft bounce, policy block, delay, complaint, unsubscribe, auto-reply, other."""
    file: bool
    events: tuple[Event, ...] = ()
    note: str = ""


class Directory(Protocol):
    """What the decision needs to know about the list and the sends."""

    unsubscribe_mailto: str

    def subscriber(self, address: str) -> str | None:
        """The listed address (as stored), or None for a stranger."""

    def sent_to(self, message_id: str) -> tuple[str, str] | None:
        """(issue id, address) when the Message-ID is one a live send gave that address."""

    def is_our_list(self, list_id: str) -> bool: ...

    def token_address(self, token: str) -> str | None: ...

    def find_tokens(self, text: str) -> list[str]: ...

    def was_sent(self, address: str) -> bool:
        """Whether a live send handed this address a message."""

    def send_for_date(self, when: dt.datetime | None) -> str:
        """The live send a date falls after (for relays that rewrite the Message-ID)."""


LEAVE = Decision("other", False)


def _evidence(notice: Notice, directory: Directory) -> tuple[bool, str, str]:
    """(ours, the address we sent it to if known, send key) from the returned original."""
    returned = notice.returned
    if returned is None:
        return False, "", directory.send_for_date(notice.date)
    hit = directory.sent_to(returned.message_id) if returned.message_id else None
    if hit is not None:
        return True, hit[1], hit[0]
    send_key = directory.send_for_date(returned.date or notice.date)
    for token in directory.find_tokens(returned.list_unsubscribe):
        address = directory.token_address(token)
        if address:
            return True, address, send_key
    return directory.is_our_list(returned.list_id), "", send_key


def _who(failure: Failure, matched: str, single: bool, directory: Directory) -> str | None:
    for candidate in (failure.original, matched if single else "", failure.address):
        if candidate:
            listed = directory.subscriber(candidate)
            if listed:
                return listed
    return None


_LABELS = {"hard": "hard bounce", "soft": "soft bounce", "policy": "policy block", "delay": "delay"}


def decide_bounce(notice: Notice, reading: Reading, directory: Directory) -> Decision:
    """Hard and soft bounces of listed addresses and policy blocks, when the returned
    original (or, without one, a live delivery to the address) shows it was our send."""
    ours, matched, send_key = _evidence(notice, directory)
    if notice.returned is None:
        ours = any(
            (who := directory.subscriber(f.original or f.address)) and directory.was_sent(who)
            for f in reading.failures
        )
    if not ours:
        return Decision("other", False, note="a bounce of mail that was not a newsletter send")
    single = len(reading.failures) == 1
    events: list[Event] = []
    worst = "delay"
    for failure in reading.failures:
        if failure.severity == "delay":
            continue
        who = _who(failure, matched, single, directory)
        if failure.severity == "policy":
            email = who or failure.address
        elif who is None:
            continue
        else:
            email = who
        events.append(
            Event(email, failure.severity, failure.status, failure.diagnostic[:500], send_key)
        )
        worst = min(worst, failure.severity, key=["hard", "soft", "policy", "delay"].index)
    if not events and worst == "delay" and any(f.severity == "delay" for f in reading.failures):
        return Decision("delay", True, note="still trying: not a bounce")
    if not events:
        return Decision("other", False, note="a bounce for an address not on the list")
    return Decision(_LABELS[worst], True, tuple(events))


def decide_complaint(notice: Notice, reading: Reading, directory: Directory) -> Decision:
    """The listed address a feedback report names, or whom the reported message was sent to
    (Message-ID, token, X-HmXmrOriginalRecipient, To); nobody listed: left alone."""
    ours, matched, send_key = _evidence(notice, directory)
    returned = notice.returned
    candidates = [*reading.complainants, matched, *(returned.to if returned else ())]
    for candidate in candidates:
        listed = directory.subscriber(candidate) if candidate else None
        if listed and (ours or candidate in reading.complainants):
            feedback = notice.feedback.get("feedback-type", "abuse") or "abuse"
            event = Event(listed, "complaint", "", f"feedback-type: {feedback}", send_key)
            return Decision("complaint", True, (event,))
    return Decision("other", False, note="a complaint about mail that was not ours")


_REQUEST = re.compile(
    r"\bunsubscribe|\bremove me\b|\bstop\b|\babmelden|d[ée]sabonner|darse de baja|\bopt[ -]?out",
    re.I,
)


def is_to_unsubscribe(notice: Notice, directory: Directory) -> bool:
    """Delivered to the [unsubscribe] mailto address (To, Cc, Delivered-To ...)."""
    mailto = directory.unsubscribe_mailto.lower()
    return bool(mailto) and mailto in notice.to


_QUOTE_START = re.compile(
    r"^(-{2,} ?Original Message ?-{2,}|On .{4,200} wrote:|Le .{4,200} a écrit ?:|Am .{4,200} schrieb .*:)\s*$",
    re.M | re.I,
)


def own_words(text: str) -> str:
    """The sender's own text: quoted lines and a quoted original (a reply's tail) removed,
    so a reply that quotes a newsletter does not carry its reader's token as a request."""
    start = _QUOTE_START.search(text)
    text = text[: start.start()] if start else text
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def decide_unsubscribe(notice: Notice, directory: Directory) -> Decision:
    """A valid token decides whoever sent it; without one, a plain request from a listed
    address unsubscribes that address. A token that does not verify changes nothing.

    Only a request counts: the subject asks to unsubscribe, or the mail is little more than
    the token (our mailto link's body). A copy of the newsletter itself, or a long mail that
    merely contains a token, is left alone: the mailto address may be the main mailbox.
    """
    if directory.is_our_list(notice.headers.get("list-id", "")):
        return Decision("other", False, note="a copy of the newsletter itself")
    body = own_words(notice.text)
    found = directory.find_tokens(f"{notice.subject}\n{body}")
    asked = bool(_REQUEST.search(notice.subject)) or bool(
        found and len(body.strip()) <= len(found[0]) + 200
    )
    if found and not asked:
        return LEAVE
    if found:
        named = {a for a in (directory.token_address(t) for t in found) if a}
        listed = {directory.subscriber(a) for a in named} - {None}
        if len(listed) != 1:
            why = "no valid token" if not named else "tokens of several people"
            return Decision("other", False, note=f"unsubscribe mail with {why}: changed nothing")
        (who,) = listed
        how = f"mail to {directory.unsubscribe_mailto} with a valid token"
        return Decision("unsubscribe", True, (Event(str(who), "unsubscribe", "", how),))
    who = directory.subscriber(notice.sender) if notice.sender else None
    authentication = notice.headers.get("authentication-results", "").lower()
    if who is None or "dmarc=fail" in authentication:
        return Decision("other", False, note="unsubscribe mail from an address not on the list")
    if not _REQUEST.search(f"{notice.subject}\n{body[:2000]}"):
        return LEAVE
    how = f"mail to {directory.unsubscribe_mailto} from their own address"
    return Decision("unsubscribe", True, (Event(who, "unsubscribe", "", how),))


def decide_auto_reply(notice: Notice, directory: Directory) -> Decision:
    """An auto-reply to a send is filed with no change; other automatic mail is real mail."""
    if any(directory.sent_to(ref) for ref in notice.references):
        return Decision("auto-reply", True)
    who = directory.subscriber(notice.sender) if notice.sender else None
    if who and directory.was_sent(who):
        return Decision("auto-reply", True)
    return Decision("other", False, note="automatic mail that is not a reply to a send")


def decide(notice: Notice, reading: Reading, directory: Directory) -> Decision:
    """Complaints and bounces first (they carry Auto-Submitted too), then requests to the
    unsubscribe address, then auto-replies; everything else is the practitioner's mail."""
    if reading.kind == "bounce":
        return decide_bounce(notice, reading, directory)
    if reading.kind == "complaint":
        return decide_complaint(notice, reading, directory)
    if is_to_unsubscribe(notice, directory):
        return decide_unsubscribe(notice, directory)
    if reading.kind == "auto-reply":
        return decide_auto_reply(notice, directory)
    return LEAVE
