"""Whether a host name or address reaches only this machine (preview, SMTP, web service)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for `localhost` and every loopback address (127.0.0.0/8, ::1); no DNS look-up.

    A server bound there is unreachable from the network, and a password sent there never
    leaves the machine.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
