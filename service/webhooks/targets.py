"""Which webhook URLs the service sends to: a URL must not make the service probe its own
network. HTTPS only (plain HTTP where a development setting allows it), no credentials in
the URL, and every address its host resolves to public: loopback, link-local, private,
shared, multicast, unspecified and reserved addresses, of IPv4 and IPv6 (an IPv4-mapped
IPv6 address judged as its IPv4 one), are refused unless a setting allows private targets.
The check runs at registration and again at every send, on the addresses then resolved,
and the request goes to the address that was checked (no second resolution)."""

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: The longest wait for a host's addresses (the resolver's own retries can take longer).
RESOLVE_SECONDS = 5.0


class UnsafeTarget(ValueError):
    """A URL the service refuses to send to; the message says why."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_http: bool = False
    allow_private: bool = False


def address_problem(address: IpAddress) -> str | None:
    """Why the service must not send to ``address``; None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_problem(address.ipv4_mapped)
    checks = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    for name, refused in checks:
        if refused:
            return f"a {name} address ({address})"
    if not address.is_global:
        return f"an address not routed on the internet ({address})"
    return None


def parsed(url: str, policy: TargetPolicy) -> SplitResult:
    """The URL's parts, once its form is acceptable; raises UnsafeTarget."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port out of range
    except ValueError:
        raise UnsafeTarget("the WebhookUrl is not a URL") from None
    schemes = ("https", "http") if policy.allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget(f"the WebhookUrl must use {' or '.join(schemes)}")
    if not parts.hostname:
        raise UnsafeTarget("the WebhookUrl has no host")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the WebhookUrl must not carry credentials")
    if parts.fragment:
        raise UnsafeTarget("the WebhookUrl must not carry a fragment")
    return parts


async def resolved_address(parts: SplitResult, policy: TargetPolicy) -> IpAddress:
    """The address to send to: every address the host resolves to must be acceptable
    (else UnsafeTarget naming the first refused), and the first is used."""
    host = parts.hostname
    assert host is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IpAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        found = await _resolve(host, port)
    if not policy.allow_private:
        for address in found:
            problem = address_problem(address)
            if problem is not None:
                raise UnsafeTarget(f"the WebhookUrl's host {host} is {problem}")
    return found[0]


async def _resolve(host: str, port: int) -> list[IpAddress]:
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, TimeoutError):
        raise UnsafeTarget(f"the WebhookUrl's host {host} does not resolve") from None
    addresses = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget(f"the WebhookUrl's host {host} does not resolve")
    return addresses


async def checked(url: str, policy: TargetPolicy) -> tuple[SplitResult, IpAddress]:
    """The URL's parts and the address to send to; raises UnsafeTarget."""
    parts = parsed(url, policy)
    return parts, await resolved_address(parts, policy)
