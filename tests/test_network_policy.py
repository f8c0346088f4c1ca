"""SPEC §10 without traffic: the policy judges addresses and ports; the connector judges
every resolved address before it opens a socket."""
from __future__ import annotations

import ipaddress
import socket

import pytest

from portal_smtp.smtp import NetworkPolicy, SmtpSettings
from portal_smtp.smtp.connection import Watchdog, connect_checked
from portal_smtp.smtp.policy import BlockedTarget, is_special_purpose

REFUSED = [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1",
    "100.64.0.1", "169.254.169.254", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.2.10", "198.51.100.7", "203.0.113.9",
    "198.18.0.1", "192.0.0.8",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1", "2001:db8::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
    "2002:c0a8:0101::1", "2001:0:4136:e378:8000:63bf:80ff:fffe", "fec0::1", "100::1",
]
ALLOWED = ["8.8.8.8", "77.88.21.158", "2a00:1450:4010:c05::6c", "::ffff:8.8.8.8",
           "64:ff9b::808:808", "2002:0808:0808::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_special_purpose_addresses_are_refused(address):
    ip = ipaddress.ip_address(address)
    assert is_special_purpose(ip)
    with pytest.raises(BlockedTarget):
        NetworkPolicy().check_address("mail.example.com", ip, 587)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_pass(address):
    NetworkPolicy().check_address("mail.example.com", ipaddress.ip_address(address), 587)


def test_ports_outside_the_list_are_refused():
    policy = NetworkPolicy()
    for port in (25, 465, 587, 2525):
        policy.check_port("mail.example.com", port)
    for port in (22, 80, 6379, 5432):
        with pytest.raises(BlockedTarget):
            policy.check_port("mail.example.com", port)


def test_allow_entries_hosts_cidrs_and_host_ports():
    policy = NetworkPolicy.from_entries(
        allow=["10.20.0.0/16", "relay.corp.local", "192.168.5.5:2526", "[fd00::25]:1025"],
        extra_ports=["8025"],
    )
    policy.check_address("x", ipaddress.ip_address("10.20.3.4"), 587)
    policy.check_address("relay.corp.local", ipaddress.ip_address("192.168.9.9"), 25)
    policy.check_address("x", ipaddress.ip_address("192.168.5.5"), 2526)
    policy.check_port("x", 2526)
    policy.check_address("x", ipaddress.ip_address("fd00::25"), 1025)
    policy.check_port("x", 8025)
    with pytest.raises(BlockedTarget):
        policy.check_address("x", ipaddress.ip_address("192.168.5.5"), 587)
    with pytest.raises(BlockedTarget):
        policy.check_address("x", ipaddress.ip_address("10.21.0.1"), 587)
    with pytest.raises(BlockedTarget):  # an allowed name does not open other ports
        policy.check_address("relay.corp.local", ipaddress.ip_address("192.168.9.9"), 22)


def test_mapped_loopback_allowed_only_through_its_ipv4():
    policy = NetworkPolicy.from_entries(allow=["127.0.0.1"])
    policy.check_address("x", ipaddress.ip_address("::ffff:127.0.0.1"), 25)
    with pytest.raises(BlockedTarget):
        policy.check_address("x", ipaddress.ip_address("::ffff:127.0.0.2"), 25)


def test_malformed_entries_are_rejected():
    with pytest.raises(ValueError):
        NetworkPolicy.from_entries(allow=["host:notaport"])
    with pytest.raises(ValueError):
        NetworkPolicy.from_entries(allow=["bad host"])


class NoConnect:
    """Stands in for the network: records that nothing tried to open a socket."""

    def __init__(self, addresses):
        self.addresses = addresses
        self.lookups = 0

    def __call__(self, host, port):
        self.lookups += 1
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, (a, port))
                for a in self.addresses]


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["169.254.169.254"], ["203.0.113.10", "192.168.0.1"], ["fe80::1%1"]],
)
def test_names_resolving_to_private_addresses_are_refused_before_connecting(
    addresses, monkeypatch
):
    opened = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: opened.append(addr))
    resolver = NoConnect(addresses)
    watchdog = Watchdog()
    watchdog.arm(5)
    settings = SmtpSettings(host="mail.example.com", port=587, auth="none")
    with pytest.raises(BlockedTarget):
        connect_checked(settings, NetworkPolicy(), resolver, watchdog)
    watchdog.close()
    assert opened == []
    assert resolver.lookups == 1
