"""Where a webhook may be sent: not to this machine, its network or a
cloud's metadata service (SSRF). Judged when a subscription is made and
again before every send, since what a name resolves to can change."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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


Resolve = Callable[..., list[Any]]  # socket.getaddrinfo's shape


def check_destination(url: str, *, allow_private: bool,
                      resolve: Resolve = socket.getaddrinfo) -> list[str]:
    """The addresses ``url``'s host resolves to, all of them allowed; raises
    RefusedAddress otherwise (or when it does not resolve)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = resolve(host, parts.port or (443 if parts.scheme == "https" else 80),
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


class Pinned:
    """A request for ``url`` sent to one address ``check_destination``
    allowed, so that the name resolving anew between the check and the
    connection (DNS rebinding) cannot send it elsewhere: the URL names the
    address, while the Host header and the TLS server name (certificate
    checked against it) stay the original host's."""

    def __init__(self, url: str, address: str) -> None:
        parts = urlsplit(url)
        literal = f"[{address}]" if ":" in address else address
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        self.url = urlunsplit(parts._replace(netloc=netloc))
        self.host = parts.netloc.rpartition("@")[2]
        self.server_name = parts.hostname or ""

    @property
    def extensions(self) -> dict[str, str]:
        return {"sni_hostname": self.server_name}
