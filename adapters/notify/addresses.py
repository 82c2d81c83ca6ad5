"""Where a webhook may be sent: not to this machine, its network or a
cloud's metadata service (SSRF). Judged when a subscription is made and
again before every send, since what a name resolves to can change."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from tracking.errors import InvalidInput


class RefusedAddress(InvalidInput):
    """The URL's host is, or resolves to, an address webhooks are not sent to."""

    def __init__(self, message: str) -> None:
        super().__init__("url", message)


def refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, private, link-local (metadata at 169.254.169.254 among
    them), shared, multicast, reserved: every address that is not global."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_destination(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, all of them allowed; raises
    RefusedAddress otherwise (or when it does not resolve)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise RefusedAddress(f"{host} does not resolve ({e})") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    if not allow_private:
        for text in addresses:
            if refused(ipaddress.ip_address(text.split("%")[0])):
                raise RefusedAddress(f"{host} resolves to {text}: loopback, private, link-local "
                                     "and metadata addresses are refused")
    return addresses
