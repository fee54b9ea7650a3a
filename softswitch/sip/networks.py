"""Source addresses and the networks that contain them: the one check behind every
"trusted networks" exemption of the SIP stack (the brute-force guard of `auth`, the request
rate limit of `ratelimit`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["Network", "in_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def in_networks(host: str, networks: Iterable[Network]) -> bool:
    """Is `host` (an IP address, IPv6 possibly in brackets) inside one of `networks`? An
    IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports for an
    IPv4 peer) counts as its IPv4 address; a host name is in no network."""
    try:
        ip = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)
