"""The one place that turns an unsubscribe token found in a mail into the subscriber it names.

Kept to two small functions so the token format can change (opaque per-subscriber ids)
without touching the classifier: `find_tokens` knows what a token looks like in text,
`address_for_token` what a valid one resolves to.
"""

from __future__ import annotations

import sqlite3

from newsletter import tokens


def find_tokens(text: str) -> list[str]:
    """Every string in the text shaped like an unsubscribe token, in order, once each."""
    return tokens.find_tokens(text)


def address_for_token(
    token: str, /, *, secret: str, conn: sqlite3.Connection | None = None
) -> str | None:
    """The address a valid token was issued for; None for a forged, altered or foreign one.

    Opaque tokens (version 2) name a subscriber by a random id, resolved in `conn`, the
    subscriber database; version 1 tokens carry the address and need only the secret.
    """
    from newsletter.mail import subscribers

    try:
        verified = tokens.read(tokens.token_from(token), secret)
    except tokens.InvalidToken:
        return None
    if verified.kind == "address":
        return verified.value
    if conn is None:
        return None
    subscriber = subscribers.by_token(conn, verified)
    return subscriber.email if subscriber is not None else None
