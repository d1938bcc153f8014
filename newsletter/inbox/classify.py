"""What kind of mail a Notice is (bounce, complaint, auto-reply ...) and how bad each bounce is.

Pure: no database, no server. Whether the mail is about *our* send, and whom it names on the
list, is `decide`'s job.

Bounces: an RFC 3464 report is read field by field; any other format goes to flufl.bounce
(GNU Mailman's detectors for qmail, Exim, Postfix, Exchange, Yahoo, AOL ... formats), which
names the failed addresses, and the status code is then read from the text near each one.
"""

from __future__ import annotations

import logging
import re
from typing import Literal, NamedTuple

from newsletter.inbox.parse import Notice, addresses

Severity = Literal["hard", "soft", "policy", "delay"]
Kind = Literal["bounce", "complaint", "auto-reply", "other"]


class Failure(NamedTuple):
    """One address a bounce or delay notice reports."""

    address: str
    original: str
    """Original-Recipient when the report gives one (before forwarding or aliasing)."""
    severity: Severity
    status: str
    """Enhanced status code (RFC 3463) such as 5.1.1; empty when the notice gives none."""
    diagnostic: str


class Reading(NamedTuple):
    kind: Kind
    failures: tuple[Failure, ...] = ()
    complainants: tuple[str, ...] = ()
    """Addresses a feedback report names (Original-Rcpt-To, Removal-Recipient)."""


_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_REPLY = re.compile(r"(?<!\d)([45])\d\d(?![\d.])")
_DEAD = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient|person)|does not exist|"
    r"doesn't exist|not exist|invalid (recipient|mailbox|address)|recipient (address )?rejected|"
    r"address rejected|mailbox (not found|unavailable|disabled)|no mailbox|account (has been )?"
    r"disabled|account is disabled|unrouteable|unroutable|host (or domain name )?not found|"
    r"domain (not found|does not exist)|name service error|no mx|couldn't find any host|"
    r"recipient not found|not a valid|no longer (active|available)|unknown recipient|"
    r"(doesn.t|does not) have an? [\w.-]+ account",
    re.I,
)
_FULL = re.compile(r"mailbox (is )?full|over ?quota|quota exceeded|insufficient storage", re.I)
_POLICY = re.compile(
    r"spam|blocked|block ?list|blacklist|reputation|policy|rejected for policy|"
    r"dmarc|spf|dkim|unsolicited|abuse",
    re.I,
)
_DELAY = re.compile(
    r"delayed|not yet been delivered|will (continue|retry|keep trying|try again)|still trying|"
    r"has not been delivered yet|delivery (is )?delayed|warning: message|retrying",
    re.I,
)


def severity(status: str, diagnostic: str, action: str = "") -> Severity:
    """Only a code that says the address or its domain is dead is hard; 5.7.x is the sender's
    reputation, not the address; any 4.x.x is soft, however the server words it."""
    if action == "delayed":
        return "delay"
    klass, subject, detail = [*status.split("."), "", "", ""][:3] if status else ("", "", "")
    if klass == "4":
        return "soft"
    if klass == "5":
        if subject == "7":
            return "policy"
        if subject == "1" or (subject, detail) in {("4", "4"), ("2", "1")}:
            return "hard"
        if (subject, detail) == ("2", "2"):
            return "soft"
    if _FULL.search(diagnostic):
        return "soft"
    if _DEAD.search(diagnostic):
        return "hard"
    if _POLICY.search(diagnostic) and klass != "4":
        return "policy"
    return "soft"


def code_in(text: str) -> str:
    """The enhanced status code a text gives (`#5.1.1`, `550 5.1.1`), else `5.0.0`/`4.0.0`
    from a bare SMTP reply code, else empty."""
    found = _STATUS.search(text)
    if found:
        return ".".join(found.groups())
    reply = _REPLY.search(text)
    return f"{reply.group(1)}.0.0" if reply else ""


_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery status notification|failure notice|returned mail|undelivered mail|"
    r"delivery (has )?failed|mail delivery (failed|failure|system)|could not be delivered|"
    r"delivery failure|not delivered|delivery notification|nondeliverable|warning: message",
    re.I,
)


def looks_like_bounce(notice: Notice) -> bool:
    """A delivery report, or mail from a mailer daemon about delivery."""
    if notice.report_type == "delivery-status" or notice.dsn:
        return True
    if "x-failed-recipients" in notice.headers:
        return True
    from_daemon = bool(_BOUNCE_SENDER.match(notice.sender)) or not notice.sender
    return from_daemon and bool(_BOUNCE_SUBJECT.search(notice.subject))


def _near(text: str, address: str) -> str:
    """The lines after an address in a bounce's text: where its reason is written."""
    at = text.lower().find(address)
    if at < 0:
        return ""
    tail = text[at + len(address) :].lstrip("<>:;, \t")
    stop = re.search(r"\n\s*\n\s*\S+@\S+|\n-{2,}", tail)
    return " ".join(tail[: stop.start() if stop else 600][:600].split())


def _detected(notice: Notice) -> tuple[set[str], set[str]]:
    """(temporary, permanent) failed addresses by flufl.bounce's format detectors."""
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(notice.message)
    except Exception:  # a heuristic detector choking on odd mail is not our bug to surface
        logging.getLogger(__name__).debug("bounce detectors failed", exc_info=True)
        return set(), set()

    def text(found: object) -> set[str]:
        values = (a.decode("utf-8", "replace") if isinstance(a, bytes) else str(a) for a in found)  # type: ignore[attr-defined]
        return {a.strip("<> ").lower() for a in values if "@" in a}

    return text(temporary), text(permanent)


def bounce_failures(notice: Notice) -> tuple[Failure, ...]:
    """Each address a bounce reports, with its code, reason and severity.

    The report's recipient fields when it has them; otherwise the addresses the format
    detectors find (or X-Failed-Recipients), each with the code written near it.
    """
    if notice.dsn:
        failures = []
        for r in notice.dsn:
            if r.action in ("delivered", "relayed", "expanded"):
                continue
            status = r.status if _STATUS.fullmatch(r.status) else code_in(r.diagnostic)
            failures.append(
                Failure(
                    r.address,
                    r.original,
                    severity(status, r.diagnostic, r.action),
                    status,
                    r.diagnostic,
                )
            )
        return tuple(failures)
    temporary, permanent = _detected(notice)
    failed = addresses(notice.headers.get("x-failed-recipients", ""))
    delay = bool(_DELAY.search(notice.subject)) or (bool(temporary) and not permanent)
    found = list(dict.fromkeys([*failed, *sorted(permanent), *sorted(temporary)]))
    failures = []
    for address in found:
        reason = _near(notice.text, address)
        status = code_in(reason)
        if delay and not status.startswith("5"):
            failures.append(Failure(address, "", "delay", status, reason))
            continue
        if not status and address in permanent and _DEAD.search(reason):
            status = "5.0.0"
        failures.append(Failure(address, "", severity(status, reason), status, reason))
    return tuple(failures)


_COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
_MICROSOFT_FBL = re.compile(r"@(hotmail|outlook|live|msn)\.[a-z.]+$|microsoft", re.I)


def is_complaint(notice: Notice) -> bool:
    """An ARF report (RFC 5965) of a reader marking mail as spam, or Outlook.com's JMRP mail
    that carries the complained-of message with X-HmXmrOriginalRecipient."""
    if notice.feedback or notice.report_type == "feedback-report":
        kind = notice.feedback.get("feedback-type", "abuse").strip().lower()
        return kind in _COMPLAINT_TYPES
    returned = notice.returned
    return bool(
        returned is not None
        and returned.microsoft_recipient
        and _MICROSOFT_FBL.search(notice.sender)
    )


def complainants(notice: Notice) -> tuple[str, ...]:
    """Whom a feedback report names; providers that redact the recipient name nobody here."""
    fields = notice.feedback
    named = addresses(
        fields.get("original-rcpt-to", ""),
        fields.get("removal-recipient", ""),
        notice.returned.microsoft_recipient if notice.returned else "",
    )
    return named


_AUTO_SUBJECT = re.compile(
    r"^(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|auto:|"
    r"autoreply|away from|on vacation|vacation|i am (currently )?(away|out)|"
    r"abwesenheit|réponse automatique|respuesta automática|risposta automatica|"
    r"fuera de la oficina|absence)",
    re.I,
)
_CHALLENGE = re.compile(
    r"please confirm|confirm your (message|e-?mail|identity)|verify (yourself|you are)|"
    r"spam ?arrest|boxbe|mailblocks|sender verification|challenge",
    re.I,
)


def is_auto_reply(notice: Notice) -> bool:
    """Vacation and out-of-office notices, auto-responders and challenge-response systems."""
    h = notice.headers
    auto = h.get("auto-submitted", "no").strip().lower()
    if auto not in ("", "no"):
        return True
    if any(name in h for name in ("x-autoreply", "x-autorespond", "x-autoresponder")):
        return True
    if h.get("precedence", "").strip().lower() == "auto_reply":
        return True
    if h.get("x-auto-response-suppress") and _AUTO_SUBJECT.search(notice.subject):
        return True
    subject = re.sub(r"^((re|aw|fw|fwd):\s*)+", "", notice.subject, flags=re.I)
    return bool(_AUTO_SUBJECT.search(subject) or _CHALLENGE.search(notice.subject))


_HEADER_HINTS = re.compile(
    rb"^(content-type:[^\n]*multipart/report|x-failed-recipients:|auto-submitted:|x-autore|"
    rb"precedence:\s*auto_reply|x-hmxmr|feedback-type:|in-reply-to:|references:)",
    re.I | re.M,
)


def might_matter(header: bytes, mailto: str) -> bool:
    """From the header block alone: could this mail be a bounce, complaint, auto-reply or
    unsubscribe request? Only those are fetched whole, so a mailbox of ordinary mail with
    attachments costs a header read per message."""
    if _HEADER_HINTS.search(header):
        return True
    if mailto and mailto.lower().encode() in header.lower():
        return True
    from newsletter.inbox.parse import parse_notice

    notice = parse_notice(header)
    return (
        looks_like_bounce(notice)
        or is_auto_reply(notice)
        or bool(_MICROSOFT_FBL.search(notice.sender))
        or (
            notice.message.get_content_type() == "multipart/mixed"
            and bool(_BOUNCE_SENDER.match(notice.sender))
        )
    )


def read(notice: Notice) -> Reading:
    """The mail's kind; a bounce carries its failures, a complaint whom it names."""
    if is_complaint(notice):
        return Reading("complaint", complainants=complainants(notice))
    if looks_like_bounce(notice):
        failures = bounce_failures(notice)
        if failures:
            return Reading("bounce", failures=failures)
        return Reading("other")
    if is_auto_reply(notice):
        return Reading("auto-reply")
    return Reading("other")
