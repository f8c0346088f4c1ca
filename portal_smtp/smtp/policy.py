"""Network policy for every connection to a user-supplied SMTP server (SPEC §10).

Checks and sending connect to hosts that users type, which makes them a server-side request
forgery risk. The policy refuses every address of the IANA special-purpose registries and
every port outside an allowed list, unless an administrator allowed the host, its network or
the exact ``host:port``. The decision is taken on the exact address that will be connected —
the connector resolves once and asks :meth:`NetworkPolicy.check_address` for each result.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: IPv4 ranges of the IANA special-purpose registry plus multicast and the reserved block.
BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, including cloud metadata 169.254.169.254
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation TEST-NET-1
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation TEST-NET-2
        "203.0.113.0/24",  # documentation TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, including broadcast 255.255.255.255
    )
)

#: IPv6 ranges refused outright; forms that carry an IPv4 address are judged by it instead.
BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback and deprecated IPv4-compatible addresses
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments (Teredo is judged by its IPv4 first)
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
NAT64_V6 = ipaddress.IPv6Network("64:ff9b::/96")


#: SMTP submission and relay ports allowed when the configuration names none.
DEFAULT_PORTS = frozenset({25, 465, 587, 2525})
#: IMAP ports, allowed for IMAP logins only.
IMAP_PORTS = frozenset({143, 993})


class InvalidEntry(ValueError):
    """A malformed allow-list entry or port; ``entry`` is the offending text."""

    def __init__(self, entry: str) -> None:
        super().__init__(f"malformed allow-list entry: {entry!r}")
        self.entry = entry


class BlockedTarget(Exception):
    """The policy refuses a host, address or port; ``reason`` is for logs, not for users.

    ``kind`` is "port" or "address", and ``target`` the refused port or address.
    """

    def __init__(self, reason: str, kind: str = "address", target: object = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.target = target


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, NAT64, 6to4, Teredo), else ``[]``."""
    if address.ipv4_mapped is not None:
        return [address.ipv4_mapped]
    if address in NAT64_V6:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return [address.sixtofour]
    if address.teredo is not None:
        server, client = address.teredo
        return [server, client]
    return []


def is_special_purpose(address: IPAddress) -> bool:
    """True for any address the policy refuses unless explicitly allowed."""
    if isinstance(address, ipaddress.IPv4Address):
        return any(address in net for net in BLOCKED_V4)
    inner = embedded_ipv4(address)
    if inner:
        return any(is_special_purpose(v4) for v4 in inner)
    if address not in GLOBAL_UNICAST_V6:
        return True
    return any(address in net for net in BLOCKED_V6)


def _normalise_host(host: str) -> str:
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


@dataclass(frozen=True)
class NetworkPolicy:
    """What the portal may connect to. Build one with :meth:`from_entries`."""

    #: Ports allowed for every host.
    ports: frozenset[int] = DEFAULT_PORTS
    #: Host names allowed whatever their addresses (lower-case, punycode).
    hosts: frozenset[str] = frozenset()
    #: Networks whose addresses are allowed.
    networks: tuple[IPNetwork, ...] = ()
    #: Exact (host or address, port) pairs allowed, port included.
    host_ports: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    @classmethod
    def from_entries(
        cls,
        allow: Iterable[str] = (),
        ports: Iterable[int | str] = (),
        extra_ports: Iterable[int | str] = (),
    ) -> NetworkPolicy:
        """Parse allow-list entries: ``host``, ``1.2.3.4``, ``10.0.0.0/8``, ``host:port``,
        ``[::1]:2525``. Raises ``ValueError`` naming the first malformed entry."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        host_ports: set[tuple[str, int]] = set()
        for raw in allow:
            entry = raw.strip()
            if not entry:
                continue
            host, port = _split_host_port(entry)
            if not host or " " in host:
                raise InvalidEntry(entry)
            if port is not None:
                host_ports.add((_normalise_host(host), port))
                continue
            try:
                networks.append(ipaddress.ip_network(host, strict=False))
            except ValueError:
                if not host or " " in host or "/" in host:
                    raise InvalidEntry(entry) from None
                hosts.add(_normalise_host(host))
        port_set = {_port(p) for p in [*(list(ports) or DEFAULT_PORTS), *extra_ports]}
        return cls(frozenset(port_set), frozenset(hosts), tuple(networks), frozenset(host_ports))

    def with_ports(self, ports: Iterable[int]) -> NetworkPolicy:
        """The same policy with more allowed ports (IMAP logins add 143 and 993)."""
        return replace(self, ports=self.ports | frozenset(ports))

    def _pair_allowed(self, host: str, port: int, address: IPAddress | None = None) -> bool:
        names = {_normalise_host(host)}
        if address is not None:
            names.add(str(address))
        return any((name, port) in self.host_ports for name in names)

    def check_port(self, host: str, port: int) -> None:
        """Refuse a port outside the allowed list unless ``host:port`` is allowed."""
        if port in self.ports or self._pair_allowed(host, port):
            return
        if any(h_port == port for _, h_port in self.host_ports):
            return  # decided per address in check_address
        raise BlockedTarget(f"port {port} is not allowed", "port", port)

    def check_address(self, host: str, address: IPAddress, port: int) -> None:
        """Refuse connecting ``address`` (resolved from ``host``) on ``port`` unless allowed."""
        if self._pair_allowed(host, port, address):
            return
        if port not in self.ports:
            raise BlockedTarget(f"port {port} is not allowed for {address}", "port", port)
        if _normalise_host(host) in self.hosts:
            return
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address):
            candidates += embedded_ipv4(address)
        if any(c in net for c in candidates for net in self.networks if c.version == net.version):
            return
        if is_special_purpose(address):
            raise BlockedTarget(f"{address} is a special-purpose address", "address", address)


def _port(value: int | str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise InvalidEntry(str(value)) from None
    if not 1 <= port <= 65535:
        raise InvalidEntry(str(value))
    return port


def _split_host_port(entry: str) -> tuple[str, int | None]:
    """Split ``host:port`` / ``[v6]:port``; a bare IPv6 address or CIDR has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, (_port(rest[1:]) if rest.startswith(":") else None)
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, _port(port)
    return entry, None
