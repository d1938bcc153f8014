"""Compliance rules: CAN-SPAM footer and headers, the sender's domain, testimonial consent and
disclaimers, and health-claim wording (FTC rules on health claims and endorsements)."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser

from newsletter.check.base import ERROR, SAMPLE_SECRET, WARNING, Email, Finding, visible_text
from newsletter.check.rules import rule
from newsletter.workspace import CONFIG_NAME

CLAIMS = re.compile(
    r"\b(cur(?:e|es|ed|ing)|treat(?:s|ed|ing)?(?!\s+(?:yourself|yourselves|myself|ourselves|"
    r"themselves|someone)\b)|heals?|guarantee[sd]?|prevents?|reverses?|"
    r"eliminates?|miracle|detox(?:es|ify)?|diagnoses?|clinically proven|proven to|"
    r"100% effective|permanent (?:relief|cure))\b",
    re.IGNORECASE,
)
"""Wording that promises a medical result; lawful only with proof, so rephrase instead."""
NEGATIONS = re.compile(r"\b(not|no|never|cannot|nor|neither|without|isn't|aren't)\b|n't\b", re.I)
OUTCOMES = re.compile(
    r"\b(heal(?:s|ed|ing)?|cur(?:e|ed|es)|pain|relie[fv]\w*|symptoms?|anxiety|depression|"
    r"migraines?|headaches?|insomnia|sleep\w*|recover\w*|injur\w*|sciatica|arthritis|"
    r"tension|stress)\b",
    re.IGNORECASE,
)
"""Words by which a testimonial describes a health outcome."""
FREE_MAIL = {
    "aol.com",
    "gmail.com",
    "googlemail.com",
    "hotmail.com",
    "icloud.com",
    "live.com",
    "me.com",
    "outlook.com",
    "yahoo.com",
}
"""Their DMARC policies make mail "from" them sent through any other server bounce or land
in spam."""
RESERVED = re.compile(r"(^|\.)(example\.(com|net|org)|test|example|invalid|localhost|local)$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _config_line(email: Email, section: str, key: str) -> tuple[str, int]:
    """The key's line in newsletter.toml, else its section's, as the config loader saw them."""
    lines = email.config.lines
    return CONFIG_NAME, lines.get(f"{section}.{key}", lines.get(section, 0))


def _flat(text: str) -> str:
    return " ".join(text.replace("\u200c", "").replace("\xa0", " ").split()).lower()


def _footer_where(email: Email) -> tuple[str, int]:
    return email.in_templates('<td class="footer"') or (email.output, 0)


@rule
def _address(email: Email) -> list[Finding]:
    address = email.config.postal_address.strip()
    if address and _flat(address) in _flat(email.body_text):
        return []
    return [
        email.finding(
            "postal-address",
            ERROR,
            _config_line(email, "sender", "postal_address")
            if not address
            else _footer_where(email),
            "the email shows no postal address; anti-spam law (CAN-SPAM) requires one",
            "set [sender] postal_address and keep it in templates/partials/footer.html",
        )
    ]


@rule
def _unsubscribe(email: Email) -> list[Finding]:
    url = email.values.get("unsubscribe_url", "")
    for a in email.elements("a"):
        if url and a.get("href") == url and visible_text(a):
            return []
    return [
        email.finding(
            "unsubscribe-link",
            ERROR,
            _footer_where(email),
            "the email has no working unsubscribe link",
            "keep <a href=\"{{ ph('unsubscribe_url') }}\">Unsubscribe</a> in "
            "templates/partials/footer.html",
        )
    ]


@rule
def _headers(email: Email) -> list[Finding]:
    from newsletter.build.pipeline import sample_message

    raw = sample_message(email.rendered, config=email.config, secret=SAMPLE_SECRET)
    headers = BytesHeaderParser().parsebytes(raw)
    where = _config_line(email, "unsubscribe", "")
    if not headers.get("List-Unsubscribe"):
        return [
            email.finding(
                "list-unsubscribe",
                ERROR,
                where,
                "the message has no List-Unsubscribe header; Gmail and Yahoo require it from "
                "bulk senders",
                "set [unsubscribe] url (https) or mailto in content/newsletter.toml",
            )
        ]
    if not headers.get("List-Unsubscribe-Post"):
        return [
            email.finding(
                "list-unsubscribe",
                WARNING,
                where,
                "no one-click unsubscribe (List-Unsubscribe-Post); Gmail and Yahoo ask bulk "
                "senders for it",
                "set [unsubscribe] url to an https:// endpoint that accepts the POST",
            )
        ]
    return []


@rule
def _sender(email: Email) -> list[Finding]:
    address = email.config.sender_email
    domain = address.rpartition("@")[2].lower().rstrip(".")
    where = _config_line(email, "sender", "email")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_domain = ""
    if not _DOMAIN.match(ascii_domain):
        return [
            email.finding(
                "sender-domain",
                ERROR,
                where,
                f"the sender address {address!r} has no valid domain",
                "use an address at your own domain, e.g. news@yourpractice.com",
            )
        ]
    if RESERVED.search(ascii_domain):
        return [
            email.finding(
                "sender-domain",
                WARNING,
                where,
                f"{domain} is a reserved example domain; mail from it is rejected",
                "set [sender] email to an address at your own domain before sending",
            )
        ]
    if ascii_domain in FREE_MAIL:
        return [
            email.finding(
                "sender-domain",
                WARNING,
                where,
                f"sending as @{domain} through your own server fails {domain}'s DMARC check; "
                "most messages would bounce or land in spam",
                "send from an address at your own domain (set up SPF, DKIM and DMARC for it)",
            )
        ]
    return []


@rule
def _testimonials(email: Email) -> list[Finding]:
    issue = email.rendered.issue
    out = []
    disclaimer = email.config.disclaimer.strip()
    shown = bool(disclaimer) and _flat(disclaimer) in _flat(email.body_text)
    for t in issue.testimonials:
        consent = t.consent
        if consent is None or not consent.method.strip():
            out.append(
                email.finding(
                    "testimonial-consent",
                    ERROR,
                    (t.path, 1),
                    f"no consent recorded for {t.author}'s testimonial",
                    "add consent: {date: YYYY-MM-DD, method: how they agreed} to its front matter",
                )
            )
        elif consent.date > issue.date:
            out.append(
                email.finding(
                    "testimonial-consent",
                    ERROR,
                    (t.path, t.lines.get("consent.date", 1)),
                    f"consent for {t.author}'s testimonial is dated {consent.date}, after the "
                    f"issue ({issue.date})",
                    "record the date the client actually agreed; ask first if they have not",
                )
            )
        outcome = OUTCOMES.search(t.body)
        if outcome and not shown:
            line = t.body_line + t.body[: outcome.start()].count("\n")
            out.append(
                email.finding(
                    "testimonial-disclaimer",
                    ERROR,
                    (t.path, line),
                    f"this testimonial describes a health outcome ('{outcome.group(0)}') but the "
                    "email carries no disclaimer",
                    "set [footer] disclaimer and keep it in templates/partials/footer.html",
                )
            )
    return out


@rule
def _claims(email: Email) -> list[Finding]:
    issue = email.rendered.issue
    sources = [(issue.path, issue.intro, issue.intro_line)]
    sources += [(a.path, a.body, a.body_line) for a in issue.articles]
    out = []
    for path, body, start in sources:
        for m in CLAIMS.finditer(body):
            sentence_start = max(body.rfind(c, 0, m.start()) for c in (".", "!", "?", "\n\n"))
            before = body[sentence_start + 1 : m.start()]
            if NEGATIONS.search(" ".join(before.split()[-5:])):
                continue
            line = start + body[: m.start()].count("\n")
            sentence = _sentence(body, m.start())
            out.append(
                email.finding(
                    "health-claim",
                    WARNING,
                    (path, line),
                    f"'{m.group(0)}' claims a health result: \"{sentence}\"",
                    "describe what clients may feel, not what it treats or cures (e.g. 'may "
                    "ease', 'many clients find'); health claims need scientific proof",
                )
            )
    return out


def _sentence(body: str, pos: int) -> str:
    start = max(body.rfind(". ", 0, pos), body.rfind("\n\n", 0, pos), -1) + 1
    ends = [i for i in (body.find(". ", pos), body.find("\n\n", pos)) if i != -1]
    end = min(ends) + 1 if ends else len(body)
    text = " ".join(body[start:end].split())
    return text if len(text) <= 120 else text[:117] + "..."


@rule
def _unsubscribe_host(email: Email) -> list[Finding]:
    """`newsletter serve` answers base_url's host: an unsubscribe URL elsewhere needs its own."""
    from urllib.parse import urlsplit

    url, base = email.config.unsubscribe_url, email.config.base_url
    if not url or urlsplit(url).hostname == urlsplit(base).hostname:
        return []
    return [
        email.finding(
            "unsubscribe-host",
            WARNING,
            _config_line(email, "unsubscribe", "url"),
            f"[unsubscribe] url is on {urlsplit(url).hostname}, not base_url's "
            f"{urlsplit(base).hostname}: `newsletter serve` answers it only if that host also "
            "reaches it",
            "point both hosts at the server running `newsletter serve` (see README, serve), "
            "or use an unsubscribe URL under base_url",
        )
    ]
