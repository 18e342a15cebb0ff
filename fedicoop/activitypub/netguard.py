"""Which network addresses fedicoop may connect to, enforced on the addresses actually dialled."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp import AddrInfoType, DefaultResolver, SocketFactoryType
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# Local federation in dev mode runs on loopback and RFC 1918 / ULA networks (docker, LAN).
# Link-local (cloud metadata at 169.254.169.254), CGNAT and the rest stay refused even then.
_DEV_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ip_network(cidr)
    for cidr in (
        "127.0.0.0/8",
        "::1/128",
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",
    )
)
# RFC 6052 well-known NAT64 prefix: the gateway dials the IPv4 address in the low 32 bits.
_NAT64 = IPv6Network("64:ff9b::/96")


class AddressRefused(OSError):
    """A connection to an address the policy forbids was refused before any packet was sent."""

    def __init__(self, host: str, detail: str) -> None:
        super().__init__(f"refusing to connect to {host}: {detail}")
        self.host = host
        self.detail = detail


def _is_public(ip: IPAddress) -> bool:
    """Return whether ``ip`` is a globally routable unicast address."""
    if (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    ):
        return False
    if isinstance(ip, IPv6Address) and ip.is_site_local:
        return False
    # is_global is also False for CGNAT (100.64.0.0/10), which is neither private nor public.
    return ip.is_global


def _embedded_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """Return the IPv4 address the kernel or a translator would really dial for ``ip``."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


@dataclass(frozen=True)
class AddressPolicy:
    """Decide whether fedicoop may open a connection to an IP address."""

    dev: bool
    trusted_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, *, dev: bool, trusted_networks: Iterable[IPNetwork | str] = ()) -> AddressPolicy:
        """Build a policy, parsing any trusted networks given as strings."""
        return cls(dev=dev, trusted_networks=tuple(ip_network(n) for n in trusted_networks))

    def permits(self, ip: IPAddress) -> bool:
        """Return whether connecting to ``ip`` is allowed."""
        if isinstance(ip, IPv6Address):
            embedded = _embedded_ipv4(ip)
            # SSRF via ::ffff:127.0.0.1 or 64:ff9b::a00:1: judge the IPv4 address really reached.
            if embedded is not None and not self.permits(embedded):
                return False
            if ip.ipv4_mapped is not None or ip in _NAT64:
                return True
        if any(ip in net for net in self.trusted_networks):
            return True
        if self.dev and any(ip in net for net in _DEV_NETWORKS):
            return True
        return _is_public(ip)

    def check(self, host: str, address: str) -> None:
        """Raise AddressRefused unless ``address`` (numeric, maybe with %scope) is allowed."""
        try:
            ip = ip_address(address)
        except ValueError:
            raise AddressRefused(host, f"unparseable address {address!r}") from None
        if not self.permits(ip):
            raise AddressRefused(host, f"{ip} is not a public address")


def _is_numeric_label(label: str) -> bool:
    """Return whether a host label is a number the way inet_aton and WHATWG URLs read it."""
    lowered = label.lower()
    if lowered.startswith("0x"):
        return all(c in "0123456789abcdef" for c in lowered[2:])
    return label.isascii() and label.isdigit()


def check_url_host(host: str, policy: AddressPolicy) -> None:
    """Refuse a forbidden IP-literal host before any socket exists; aiohttp never resolves it."""
    bare = host.rstrip(".") if ":" not in host else host
    try:
        ip = ip_address(bare)
    except ValueError:
        # 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 all mean 127.0.0.1 to inet_aton; a host
        # ending in a number is an IPv4 address to browsers, never a DNS name, so refuse it.
        if bare and _is_numeric_label(bare.rsplit(".", 1)[-1]):
            raise AddressRefused(host, "non-canonical numeric IPv4 address") from None
        return
    if not policy.permits(ip):
        raise AddressRefused(host, f"{ip} is not a public address")


class GuardedResolver(AbstractResolver):
    """Resolve names, refusing any whose answers include a forbidden address."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner: AbstractResolver = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host`` and refuse the whole answer if any address is forbidden."""
        answers = await self._inner.resolve(host, port, family)
        # A name pointing at 127.0.0.1 or 10.x (or rebinding to it later) is an SSRF attempt;
        # refusing the whole answer keeps a mixed public/private record from being half-trusted.
        for answer in answers:
            self._policy.check(host, answer["host"])
        return answers

    async def close(self) -> None:
        """Close the wrapped resolver."""
        await self._inner.close()


def guarded_socket_factory(policy: AddressPolicy) -> SocketFactoryType:
    """Return a socket factory that refuses forbidden peers just before connect()."""

    def create_socket(addr_info: AddrInfoType) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        peer = sockaddr[0]
        # Last line of defence: this sees the exact address dialled, whatever path produced it.
        policy.check(peer, peer)
        return socket.socket(family=family, type=type_, proto=proto)

    return create_socket
