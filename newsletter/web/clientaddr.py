"""Who is asking: the peer, or the client a trusted reverse proxy names in X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)


def is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address per-client limits count by.

    X-Forwarded-For is believed only from a trusted proxy, and read from the right: each
    proxy appends the address it saw, so the first untrusted entry from the right is the
    client; anything left of it was written by the client and proves nothing.
    """
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    candidate = peer
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return candidate  # a garbled entry ends the chain we can believe
        if not is_trusted(hop, trusted):
            return hop
        candidate = hop
    return candidate
