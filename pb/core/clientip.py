"""The client's address, the one function every rate limit and lock-out uses (`client_ip(request)`).

Behind the reverse proxy of docs/deploy.md every request reaches the app from the proxy, so REMOTE_ADDR is
the proxy's address. The proxy appends the address it saw to X-Forwarded-For (nginx:
`proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`). We read that header only when the request
really comes from a trusted proxy (`PB_TRUSTED_PROXIES`, addresses or CIDR networks, default
"127.0.0.1,::1") and take the right-most address in it that is not itself a trusted proxy: everything to
its left was written by the client and may be forged. A client that talks to the app directly (REMOTE_ADDR
not trusted) is counted under REMOTE_ADDR, whatever X-Forwarded-For it sends.

A request from a trusted proxy without X-Forwarded-For (e.g. a health check, or the test client) is counted
under the proxy's address.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in spec if s.strip())


def trusted_networks() -> tuple[Network, ...]:
    value = getattr(settings, "PB_TRUSTED_PROXIES", ("127.0.0.1", "::1"))
    if isinstance(value, str):
        value = value.split(",")
    return _networks(tuple(value))


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.5:51234"
        text = text.split(":", 1)[0]
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return addr.ipv4_mapped
    return addr


def is_trusted(addr, networks: tuple[Network, ...] | None = None) -> bool:
    networks = trusted_networks() if networks is None else networks
    return addr is not None and any(addr in net for net in networks)


def client_ip(request) -> str:
    """The address of the client that sent `request`, as a string ("" if the server gave none)."""
    remote_text = request.META.get("REMOTE_ADDR", "") or ""
    remote = _parse(remote_text)
    networks = trusted_networks()
    if remote is None or not is_trusted(remote, networks):
        return str(remote) if remote is not None else remote_text
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    hops = [h for h in forwarded.split(",") if h.strip()]
    last = remote
    for hop in reversed(hops):
        addr = _parse(hop)
        if addr is None:
            # Not an address where a trusted proxy should have written one: nothing left of it can be
            # believed; count the request under the last trusted hop.
            break
        if not is_trusted(addr, networks):
            return str(addr)
        last = addr
    return str(last)
