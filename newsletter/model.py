"""Typed, immutable values that flow through the pipeline stages.

Records are NamedTuples rather than frozen dataclasses: every command creates these classes
when it starts, and a NamedTuple class is made in about a fifth of the time (10 ms less per
command here). Change one with `value._replace(field=...)`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import NamedTuple


class KeyLines(NamedTuple):
    """Where each key of a file is, as its parser saw it, so a problem found later (by `check`)
    names the line without reading the file again.

    Names are dotted: "subject", "image.src", "consent.date" in front matter; "sender" (the
    section header) and "sender.email" in newsletter.toml.
    """

    pairs: tuple[tuple[str, int], ...] = ()

    def get(self, key: str, default: int = 0) -> int:
        for name, line in self.pairs:
            if name == key:
                return line
        return default


class Ref(NamedTuple):
    """A link or an image written in a Markdown body, with its line."""

    kind: str
    """"link" or "image"."""
    line: int
    target: str
    """The href or src as written (a reference definition's URL for [text][id] links)."""
    text: str
    """The link text or the alt text as written."""
    syntax: str = "markdown"
    """"markdown", "html" (a tag), or "front-matter" (an article's image: key)."""
    alt: bool = True
    """For an HTML image: whether it has an alt attribute at all."""


class Block(NamedTuple):
    """One Markdown block of a body, with the file line it starts on."""

    kind: str
    """"heading", "paragraph", "list", "quote", "table", "code", "html" or "rule"."""
    line: int
    text: str
    """The block's source lines as written."""
    level: int = 0
    """1-6 for a heading, else 0."""
    refs: tuple[Ref, ...] = ()
    """The links and images in the block, in the order written."""

    def numbered(self) -> list[tuple[int, str]]:
        """(file line, source line) for each line of the block."""
        return [(self.line + n, text) for n, text in enumerate(self.text.split("\n"))]


class SourceText(NamedTuple):
    """A template as loaded with the workspace: findings about it name its lines."""

    path: str
    text: str


class Brand(NamedTuple):
    """Colours of the email; checked for WCAG AA contrast when the config loads."""

    accent: str = "#2d5a4c"
    """Button background and link colour on the light page (white text sits on it)."""
    accent_dark: str = "#8fd1bb"
    """Link colour in dark mode (on the dark page background)."""
    text: str = "#26302c"
    """Body text on the light page; never pure black, which inverts badly."""
    background: str = "#f4f1ea"
    """Page background around the 600 px card."""
    surface: str = "#fffdf9"
    """The card the content sits on; off-white, so a forced inversion never makes it pure black."""
    muted: str = "#556259"
    """Footer and attribution text."""
    dark_background: str = "#161a18"
    dark_surface: str = "#202624"
    dark_text: str = "#e6e3dc"
    dark_muted: str = "#b4bcb6"


class SmtpSettings(NamedTuple):
    """Where mail goes; the password never lives in newsletter.toml."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    """One of starttls, ssl, none."""
    username: str = ""
    password: str = ""
    timeout: float = 30.0

    def __repr__(self) -> str:
        """Never the password, which may come from the environment."""
        shown = ", ".join(
            f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True) if k != "password"
        )
        return f"SmtpSettings({shown})"


class InboxSettings(NamedTuple):
    """The IMAP mailbox `newsletter inbox` reads; the password never lives in newsletter.toml."""

    host: str = ""
    """Empty until configured: `inbox` then says which setting is missing."""
    port: int = 993
    """993 with ssl, else 143, unless set."""
    security: str = "ssl"
    """One of ssl, starttls, none."""
    username: str = ""
    folder: str = "INBOX"
    processed_folder: str = "Newsletter/Processed"
    """Where handled messages are moved; `/` stands for the server's hierarchy separator."""
    password: str = ""
    timeout: float = 30.0

    def __repr__(self) -> str:
        """Never the password, which may come from the environment."""
        shown = ", ".join(
            f"{k}={v!r}" for k, v in zip(self._fields, self, strict=True) if k != "password"
        )
        return f"InboxSettings({shown})"


class WebSettings(NamedTuple):
    """`newsletter serve`: the subscriber-facing pages ([web] in newsletter.toml)."""

    host: str = "127.0.0.1"
    port: int = 8080
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    """Addresses (or networks) whose X-Forwarded-For is believed: the reverse proxy's."""
    signup_origins: tuple[str, ...] = ()
    """Sites (https://example.com) whose embedded signup form may post without a form token."""
    serve_archive: bool = True
    """Serve dist/ (archive, web versions, feed); false when the proxy serves it."""
    consent_text: str = (
        "Yes, email me the newsletter. I can unsubscribe at any time with the link in every email."
    )
    """The consent wording shown on the signup form, recorded with each confirmed signup."""
    signups_per_hour: int = 10
    """Signup posts per client address per hour."""
    confirmations_per_day: int = 3
    """Confirmation emails per email address per 24 hours (against list bombing)."""


class Config(NamedTuple):
    """The practitioner's settings from content/newsletter.toml."""

    title: str
    """Newsletter name shown in the header and the List-Id description."""
    sender_name: str
    sender_email: str
    postal_address: str
    """Required by anti-spam law (CAN-SPAM) in every commercial email."""
    booking_url: str
    base_url: str
    """Where the web archive lives; view-in-browser links and images hang under it."""
    disclaimer: str
    """Health disclaimer printed in every footer."""
    reason: str
    """Why the reader receives this email, printed in the footer."""
    list_id: str
    """RFC 2919 List-Id, a domain-like name such as notes.example.org."""
    reply_to: str = ""
    language: str = "en"
    direction: str = "ltr"
    tagline: str = ""
    cta_text: str = "Book a session"
    """Default label of the booking button."""
    greeting_fallback: str = "there"
    """Used for %%first_name%% and %%name%% when a subscriber has no name."""
    unsubscribe_mailto: str = ""
    unsubscribe_url: str = ""
    """HTTPS endpoint; a signed token is appended per recipient."""
    brand: Brand = Brand()
    smtp: SmtpSettings = SmtpSettings()
    rate_per_second: float = 0.0
    """0 means unlimited."""
    daily_limit: int = 0
    """0 means unlimited."""
    utm: bool = True
    """Add utm_source/medium/campaign to links to the practitioner's own sites."""
    inbox: InboxSettings = InboxSettings()
    """Where `newsletter inbox` reads bounces, complaints and unsubscribe requests."""
    web: WebSettings = WebSettings()
    lines: KeyLines = KeyLines()
    """Line of each key and section in newsletter.toml."""


class Image(NamedTuple):
    src: str
    """Path under content/images/ or an absolute https URL."""
    alt: str
    width: int
    height: int
    path: Path | None = None
    """Local file when src is under content/images/."""


class Consent(NamedTuple):
    date: dt.date
    method: str


class Article(NamedTuple):
    slug: str
    path: str
    title: str
    summary: str
    date: dt.date
    body: str
    """Markdown source of the body."""
    body_line: int
    """Line of the file where the body starts, for problems found in it."""
    image: Image | None = None
    cta: str = ""
    """Button label when the article asks for its own booking button; empty for none."""
    author: str = ""
    image_sizes: tuple[tuple[str, int, int], ...] = ()
    """(src, width, height) of local images used in the body."""
    lines: KeyLines = KeyLines()
    """Line of each front-matter key."""
    blocks: tuple[Block, ...] = ()
    """The body's Markdown blocks with their lines."""


class Testimonial(NamedTuple):
    slug: str
    path: str
    author: str
    service: str
    consent: Consent
    body: str
    body_line: int
    date: dt.date | None = None
    lines: KeyLines = KeyLines()
    blocks: tuple[Block, ...] = ()


class Issue(NamedTuple):
    id: str
    path: str
    subject: str
    preheader: str
    date: dt.date
    intro: str
    intro_line: int
    articles: tuple[Article, ...]
    testimonials: tuple[Testimonial, ...]
    cta: str = ""
    """Label of the closing booking button; the config's cta_text when empty."""
    greeting: str = "Hello"
    """Opening word before the recipient's first name; empty for no greeting line."""
    image_sizes: tuple[tuple[str, int, int], ...] = ()
    """(src, width, height) of local images used in the intro."""
    lines: KeyLines = KeyLines()
    blocks: tuple[Block, ...] = ()
    """The intro's Markdown blocks with their lines."""


class Rendered(NamedTuple):
    """One issue rendered once; every recipient's copy is a substitution on these strings."""

    issue: Issue
    html: str
    """Finished, inlined HTML with placeholder markers."""
    text: str
    """Plain-text part with placeholder markers."""
    web_html: str
    """The web version (no per-recipient fields)."""
    images: tuple[Path, ...]
    """Local image files the email references, to copy next to it."""
    nonce: str
    """Random per render; placeholder markers carry it, so content cannot forge one."""
    warnings: tuple[str, ...] = ()
