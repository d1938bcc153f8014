"""The confirmation and welcome emails, made by the issue pipeline and its templates.

Each is rendered once per process, like an issue; a message costs a substitution. The
confirmation link is the issue's button (the booking link's place), its token swapped in
for a fixed stand-in afterwards; the footer, unsubscribe link and headers are the issue's.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

from newsletter.build.mime import MessageTemplate
from newsletter.build.pipeline import render_rendered
from newsletter.build.recipient import make_recipient
from newsletter.errors import NewsletterError
from newsletter.load.frontmatter import parse_document
from newsletter.model import Config, Issue, Rendered
from newsletter.workspace import Paths, read_text

STAND_IN = "2.000000000000000000000000.confirmationTokenStandIn"
"""Token-shaped, so it passes every stage (escaping, links, UTM) unchanged."""
WELCOME = "content/welcome.md"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


class Email(NamedTuple):
    rendered: Rendered
    config: Config


def _markdown_text(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _without_web_version(rendered: Rendered, config: Config) -> Rendered:
    """These emails have no web version: their "view in browser" link goes to the archive."""
    page = re.compile(re.escape(f"{config.base_url}/issues/{rendered.issue.id}/") + r'[^"\s<>]*')
    home = f"{config.base_url}/"
    return rendered._replace(html=page.sub(home, rendered.html), text=page.sub(home, rendered.text))


def confirmation_email(paths: Paths, config: Config) -> Email:
    title = _markdown_text(config.title)
    intro = (
        f"Someone, probably you, asked to receive **{title}** at this address. Please "
        f"confirm with the button below; the link works for 7 days.\n\n"
        "If it wasn't you, ignore this email: nothing more will come unless you confirm."
    )
    issue = Issue(
        id="confirm",
        path="",
        subject=f"Please confirm your subscription to {config.title}",
        preheader="One click and you are on the list. Didn't ask? Ignore this email.",
        date=dt.date.today(),
        intro=intro,
        intro_line=1,
        articles=(),
        testimonials=(),
        cta="Yes, subscribe me",
        greeting="Hello",
    )
    button = config._replace(booking_url=f"{config.base_url}/confirm?token={STAND_IN}")
    rendered = render_rendered(issue, config=button, paths=paths)
    return Email(_without_web_version(rendered, config), config)


def welcome_email(paths: Paths, config: Config) -> Email | None:
    """content/welcome.md (subject, optional preheader, Markdown body), when it exists."""
    file = paths.content / "welcome.md"
    if not file.exists():
        return None
    doc = parse_document(read_text(file, WELCOME), path=WELCOME)
    subject = doc.fields.get("subject")
    if subject is None or not isinstance(subject.value, str) or not subject.value.strip():
        raise NewsletterError.single(WELCOME, "subject: the welcome email needs a subject", 1)
    preheader = doc.fields.get("preheader")
    issue = Issue(
        id="welcome",
        path=WELCOME,
        subject=subject.value.strip(),
        preheader=str(preheader.value).strip() if preheader else "",
        date=dt.date.today(),
        intro=doc.body,
        intro_line=doc.body_line,
        articles=(),
        testimonials=(),
        greeting="Hello",
    )
    rendered = render_rendered(issue, config=config, paths=paths)
    return Email(_without_web_version(rendered, config), config)


def message(
    email: Email,
    address: str,
    name: str,
    /,
    *,
    secret: str,
    unsubscribe_id: str,
    confirm_token: str = "",
    message_key: str = "",
) -> bytes:
    """One finished message; `message_key` keeps Message-IDs apart between sends."""
    rendered = email.rendered
    if confirm_token:
        rendered = rendered._replace(
            html=rendered.html.replace(STAND_IN, confirm_token),
            text=rendered.text.replace(STAND_IN, confirm_token),
        )
    if message_key:
        rendered = rendered._replace(
            issue=rendered.issue._replace(id=f"{rendered.issue.id}-{message_key}")
        )
    recipient = make_recipient(
        address, name, config=email.config, secret=secret, token_id=unsubscribe_id
    )
    return MessageTemplate(rendered, config=email.config).render(recipient)
