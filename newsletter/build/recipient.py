"""The one place that makes a recipient: placeholder values, unsubscribe link, mailto and token.

Send, the sample message, check, preview and the web version all call `make_recipient`, so
an unsubscribe link is built one way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from newsletter import tokens
from newsletter.build.placeholders import recipient_values
from newsletter.model import Config


class Recipient(NamedTuple):
    """Who one message is for, and everything personal in it."""

    address: str
    name: str
    values: Mapping[str, str]
    """Placeholder values, already containing the recipient's unsubscribe URL."""
    unsubscribe_url: str = ""
    unsubscribe_mailto: str = ""


def unsubscribe_links(token: str, /, *, config: Config) -> tuple[str, str]:
    """The personal HTTPS link and the mailto alternative, each carrying the token.

    The mailto puts the token in the subject and the body: some mail programs drop a
    mailto's body.
    """
    url = tokens.unsubscribe_url(config.unsubscribe_url, token) if config.unsubscribe_url else ""
    mailto = (
        f"mailto:{config.unsubscribe_mailto}?subject=unsubscribe%20{token}&body={token}"
        if config.unsubscribe_mailto
        else ""
    )
    return url, mailto


def make_recipient(
    address: str, name: str, /, *, config: Config, secret: str, token_id: str = ""
) -> Recipient:
    """A recipient with a signed unsubscribe token; `secret` is the workspace's signing key.

    `token_id` is the subscriber's opaque id (subscribers.token_id_for): the token then names
    nobody. Without one (the sample message, previews, a test address not on the list) the
    old address-carrying token is made, which only ever reaches the sender's own inbox.
    """
    token = tokens.sign_id(token_id, secret) if token_id else tokens.sign(address, secret)
    url, mailto = unsubscribe_links(token, config=config)
    values = recipient_values(
        email=address, name=name, unsubscribe_url=url or mailto, fallback=config.greeting_fallback
    )
    return Recipient(address, name, values, url, mailto)
