"""One mapping per export format: how to recognise its header row and read its columns.

Header cells are compared as keys: case-folded, everything but letters and digits dropped
("E-mail 1 - Value" -> "email1value"). Adding a format is one `Format` in FORMATS, placed
before the more general ones it would otherwise match.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field


@functools.lru_cache(maxsize=1024)
def header_key(cell: str) -> str:
    """The comparable form of a header cell or a status word."""
    return re.sub(r"[^a-z0-9]", "", cell.casefold())


# Generic names, as spreadsheets, booking systems (Vagaro, Jane, Mindbody, SimplePractice,
# Acuity, Calendly) and mail services call the columns.
EMAIL = ("email", "emailaddress", "mail", "emailadresse", "courriel", "primaryemail",
         "clientemail", "customeremail", "inviteeemail", "emailaddress1", "email1")  # fmt: skip
NAME = ("name", "fullname", "clientname", "customername", "contactname", "displayname",
        "inviteename", "client", "patientname", "patient")  # fmt: skip
FIRST = ("firstname", "givenname", "first", "forename", "vorname", "prenom", "inviteefirstname",
         "clientfirstname", "preferredname")  # fmt: skip
LAST = ("lastname", "surname", "familyname", "last", "nachname", "nom", "inviteelastname",
        "clientlastname")  # fmt: skip
CONSENT = ("consent", "consentbasis", "marketingconsent", "emailconsent", "optin")


@dataclass(frozen=True)
class Format:
    """How one export names its columns and says who left."""

    name: str
    signature: tuple[str, ...]
    """Header keys that must all be present for the file to be this format."""
    email: tuple[str, ...] = EMAIL
    """Address columns in order of preference; the first non-empty cell is the address."""
    name_columns: tuple[str, ...] = NAME
    first: tuple[str, ...] = FIRST
    last: tuple[str, ...] = LAST
    consent: tuple[str, ...] = CONSENT
    status: str = "active"
    """What every row of this export is: Mailchimp exports one file per status."""
    status_column: tuple[str, ...] = ()
    status_words: Mapping[str, str] = field(default_factory=dict)
    """Status cell (as a key) -> stored status; other values mean active."""
    implied_consent: str = ""
    """The consent the export records for active rows (a mail service's opt-in), if any."""


FORMATS: tuple[Format, ...] = (
    Format(
        "Mailchimp cleaned export",
        ("emailaddress", "cleantime"),
        email=("emailaddress",),
        status="bounced",
    ),
    Format(
        "Mailchimp unsubscribed export",
        ("emailaddress", "unsubtime"),
        email=("emailaddress",),
        status="unsubscribed",
    ),
    Format(
        "Mailchimp subscribed export",
        ("emailaddress", "optintime", "leid"),
        email=("emailaddress",),
        implied_consent="subscribed to the Mailchimp audience",
    ),
    Format(
        "Square customer directory",
        ("emailaddress", "squarecustomerid"),
        email=("emailaddress",),
        status_column=("emailsubscriptionstatus", "emailunsubscribed"),
        status_words={
            "unsubscribed": "unsubscribed",
            "true": "unsubscribed",
            "bounced": "bounced",
        },
    ),
    Format(
        "Google Contacts",
        ("email1value", "firstname", "lastname"),
        email=tuple(f"email{n}value" for n in range(1, 10)),
        name_columns=(),
        first=("firstname",),
        last=("lastname",),
    ),
    Format(
        "Google Contacts (older layout)",
        ("email1value", "givenname"),
        email=tuple(f"email{n}value" for n in range(1, 10)),
        name_columns=("name",),
        first=("givenname",),
        last=("familyname",),
    ),
    Format(
        "Outlook contacts",
        ("emailaddress", "email2address"),
        email=("emailaddress", "email2address", "email3address"),
        name_columns=("emaildisplayname",),
        first=("firstname",),
        last=("lastname",),
    ),
    Format("Acuity Scheduling clients", ("firstname", "lastname", "email", "banned")),
    Format("Acuity Scheduling appointments", ("email", "appointmentprice", "calendar")),
    Format("Calendly invitees", ("inviteeemail",), email=("inviteeemail",)),
    Format(
        "newsletter subscriber export",
        ("email", "status", "consent", "consentat", "unsubscribedat"),
        email=("email",),
        status_column=("status",),
        status_words={s: s for s in ("unsubscribed", "bounced", "complained")},
    ),
)

LEFT_WORDS = {
    "unsubscribed": "unsubscribed",
    "optedout": "unsubscribed",
    "optout": "unsubscribed",
    "true": "unsubscribed",  # an "Unsubscribed" or "Opted out" column
    "yes": "unsubscribed",
    "cleaned": "bounced",
    "bounced": "bounced",
    "complained": "complained",
    "spam": "complained",
}
"""Words in a mail-status column that mean the person left; anything else means active."""

GENERIC = Format(
    "CSV",
    (),
    # A mail service's list in an unknown layout may say who left: never import them as active.
    status_column=(
        "emailmarketingstatus",
        "emailsubscriptionstatus",
        "subscriptionstatus",
        "emailstatus",
        "marketingstatus",
        "mailchimpstatus",
        "unsubscribed",
        "emailunsubscribed",
        "optedout",
        "emailoptout",
    ),
    status_words=LEFT_WORDS,
)


def recognise(keys: list[str]) -> Format:
    """The first format whose signature the header has, else the generic one."""
    present = set(keys)
    for candidate in FORMATS:
        if present.issuperset(candidate.signature):
            return candidate
    return GENERIC


def find(keys: list[str], names: tuple[str, ...]) -> int | None:
    """The index of the first of `names` present in the header keys."""
    for name in names:
        if name in keys:
            return keys.index(name)
    return None
