"""Text rules: subject, preheader, placeholders, leftover template syntax and draft markers."""

from __future__ import annotations

import re

from newsletter.build.pipeline import GMAIL_CLIP_BYTES, GMAIL_WARN_BYTES
from newsletter.check.base import ERROR, WARNING, Email, Finding
from newsletter.check.rules import rule

SUBJECT_MIN = 10
SUBJECT_MAX = 60
"""Phones show about 35-45 characters and desktops about 60 before cutting the subject."""
PREHEADER_MIN = 40

SPAM_WORDS = (
    "100% free",
    "act now",
    "apply now",
    "buy now",
    "cash",
    "cheap",
    "click here",
    "congratulations",
    "dear friend",
    "earn money",
    "free",
    "guarantee",
    "guaranteed",
    "limited time",
    "lose weight",
    "lowest price",
    "miracle",
    "no obligation",
    "order now",
    "risk-free",
    "urgent",
    "winner",
)
_SPAM = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(w) for w in SPAM_WORDS) + r")(?![\w-])|(\${2,}|!{2,})",
    re.IGNORECASE,
)
DRAFT_MARKERS = re.compile(r"\bTK\b|\bTODO\b|\bFIXME\b|\bXXX\b|(?i:\blorem ipsum\b)|\bTBD\b")
_LEFTOVER = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|%%[A-Za-z_]+%%|\*\|[A-Z_]+\|\*")
_UNBALANCED = re.compile(r"\{\{|\}\}|\{%|%\}|%%[A-Za-z_]+|[A-Za-z_]+%%|\*\|[A-Z_]*|[A-Z_]*\|\*")


@rule
def _size(email: Email) -> list[Finding]:
    size = len(email.html.encode("utf-8"))
    if size <= GMAIL_WARN_BYTES:
        return []
    severity = ERROR if size > GMAIL_CLIP_BYTES else WARNING
    what = "Gmail clips it" if severity == ERROR else "close to Gmail's clipping at 102 KB"
    return [
        email.finding(
            "gmail-clipping",
            severity,
            (email.output, 0),
            f"the HTML is {size / 1024:.0f} KB; {what}, hiding the rest of the email and the "
            "unsubscribe link behind '[Message clipped]'",
            "shorten the articles, move one to the next issue, or link to the full text on "
            "your website",
        )
    ]


def _field_line(email: Email, key: str) -> tuple[str, int]:
    issue = email.rendered.issue
    return issue.path, issue.lines.get(key, 1)


@rule
def _subject(email: Email) -> list[Finding]:
    subject = email.rendered.issue.subject.strip()
    where = _field_line(email, "subject")
    if not subject:
        return [
            email.finding(
                "subject-missing",
                ERROR,
                where,
                "the issue has no subject",
                "add subject: to the issue's front matter; say what the reader gets",
            )
        ]
    out = []
    if len(subject) < SUBJECT_MIN:
        out.append(
            email.finding(
                "subject-length",
                WARNING,
                where,
                f"the subject is {len(subject)} characters; under {SUBJECT_MIN} says too little",
                "say what this issue offers the reader in 30 to 60 characters",
            )
        )
    elif len(subject) > SUBJECT_MAX:
        out.append(
            email.finding(
                "subject-length",
                WARNING,
                where,
                f"the subject is {len(subject)} characters; inboxes cut it after about "
                f"{SUBJECT_MAX} (phones after 40)",
                "put the important words first and shorten it to 60 characters or fewer",
            )
        )
    if _shouting(subject):
        out.append(
            email.finding(
                "subject-caps",
                WARNING,
                where,
                "the subject is written in capitals, which reads as shouting and scores as spam",
                "write it in sentence case",
            )
        )
    out.extend(_spam(email, subject, "subject", where))
    return out


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 8 and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        return True
    return bool(re.search(r"\b[A-Z]{3,}\b\W+\b[A-Z]{3,}\b", text))


def _spam(email: Email, text: str, what: str, where: tuple[str, int]) -> list[Finding]:
    words = sorted({m.group(0).lower() for m in _SPAM.finditer(text)})
    if not words:
        return []
    quoted = ", ".join(f"'{w}'" for w in words)
    return [
        email.finding(
            "spam-words",
            WARNING,
            where,
            f"the {what} contains {quoted}, which spam filters score against the email",
            "say it plainly without sales wording; one exclamation mark at most",
        )
    ]


@rule
def _preheader(email: Email) -> list[Finding]:
    issue = email.rendered.issue
    preheader = issue.preheader.strip()
    where = _field_line(email, "preheader")
    if not preheader:
        return [
            email.finding(
                "preheader-missing",
                WARNING,
                _field_line(email, "subject"),
                "the issue has no preheader, so inboxes show the first words of the body "
                "next to the subject",
                "add preheader: one sentence (40 to 100 characters) that adds to the subject",
            )
        ]
    out = []
    if len(preheader) < PREHEADER_MIN:
        out.append(
            email.finding(
                "preheader-short",
                WARNING,
                where,
                f"the preheader is {len(preheader)} characters; under {PREHEADER_MIN} leaves "
                "most of the preview line empty",
                "write 40 to 100 characters that add to the subject",
            )
        )
    a, b = _plain(preheader), _plain(issue.subject)
    if a and b and (a == b or a.startswith(b) or b.startswith(a)):
        out.append(
            email.finding(
                "preheader-repeat",
                WARNING,
                where,
                "the preheader repeats the subject, wasting the preview line",
                "use the preheader for what the subject leaves out (an offer, a date, a benefit)",
            )
        )
    out.extend(_spam(email, preheader, "preheader", where))
    return out


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _texts(email: Email) -> list[str]:
    """What a reader can see: subject, body text, link targets shown as text, alt texts
    (read only: worked out once per check)."""
    return email.shared(_readable)


def _readable(email: Email) -> list[str]:
    texts = [email.rendered.issue.subject, email.rendered.issue.preheader]
    texts.append(email.body_text)
    for element in email.elements():
        for attr in ("alt", "title", "aria-label"):
            value = element.get(attr)
            if value:
                texts.append(value)
    return texts


@rule
def _syntax(email: Email) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    hrefs = [e.get("href") or "" for e in email.elements("a")]
    for text in [*_texts(email), *hrefs]:
        for m in _LEFTOVER.finditer(text):
            token = m.group(0)
            if token in seen:
                continue
            seen.add(token)
            out.append(
                email.finding(
                    "template-syntax",
                    ERROR,
                    email.locate(token),
                    f"'{token}' shows literally in the email",
                    "content cannot carry placeholders or template tags; write the words "
                    "themselves (the greeting already uses the reader's first name)",
                )
            )
        rest = _LEFTOVER.sub("", text)
        for m in _UNBALANCED.finditer(rest):
            token = m.group(0)
            if token in seen:
                continue
            seen.add(token)
            out.append(
                email.finding(
                    "placeholder",
                    ERROR,
                    email.locate(token),
                    f"unbalanced placeholder '{token}' shows literally in the email",
                    "close it or remove it; placeholders are %%name%% and only templates use them",
                )
            )
    return out


@rule
def _drafts(email: Email) -> list[Finding]:
    texts = "\n".join(_texts(email))
    markers = sorted({m.group(0) for m in DRAFT_MARKERS.finditer(texts)})
    out = []
    for marker in markers:
        pattern = re.compile(rf"\b{re.escape(marker)}\b")
        hits = [(p.path, p.line) for p in email.places if pattern.search(p.text)]
        for where in hits or [email.locate(pattern)]:
            out.append(
                email.finding(
                    "draft-marker",
                    ERROR,
                    where,
                    f"draft marker '{marker}' is still in the email",
                    "finish or remove the unfinished passage before sending",
                )
            )
    return out
