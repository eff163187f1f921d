"""The firewall role's checks of its rules, and how it writes their sources for nft."""

from __future__ import annotations

from firewall_rules import firewall_admits, firewall_bad_rules, firewall_by_family


def test_addresses_and_networks_of_both_families_are_good() -> None:
    rules = [{"port": 9100, "sources": ["10.0.0.5", "10.1.0.0/16", "2001:db8::1", "2001:db8::/64"], "comment": "ok"}]
    assert firewall_bad_rules(rules, "firewall_allow") == []


def test_a_name_or_no_source_is_named_with_the_variable_and_what_is_allowed() -> None:
    rules = [{"port": 5432, "sources": ["db.example.com", "10.0.0.7"]}, {"port": 6379, "sources": []}]
    assert firewall_bad_rules(rules, "firewall_allow") == [
        "firewall_allow[0] (port 5432): db.example.com is not an address;"
        " allowed: IPv4 or IPv6 addresses or networks (CIDR, e.g. 10.0.0.0/24)",
        "firewall_allow[1] (port 6379) has no sources;"
        " allowed: IPv4 or IPv6 addresses or networks (CIDR, e.g. 10.0.0.0/24)",
    ]


def test_a_network_with_host_bits_is_refused_not_widened() -> None:
    [error] = firewall_bad_rules([{"port": 22, "sources": ["10.0.0.7/8"]}], "firewall_ssh_sources")
    assert "10.0.0.7/8 has bits set beyond its prefix (did you mean 10.0.0.0/8?)" in error


def test_a_port_out_of_range_or_a_comment_nft_cannot_take_is_refused() -> None:
    errors = firewall_bad_rules(
        [{"port": 0, "sources": ["10.0.0.7"]}, {"port": 80, "sources": ["10.0.0.7"], "comment": 'say "hi"'}], "x"
    )
    assert errors == [
        "x[0] (port 0): the port is 0; allowed: an integer from 1 to 65535",
        "x[1] (port 80): the comment 'say \"hi\"'; allowed: one line of up to 128 bytes, no double quotes",
    ]


def test_sources_are_split_by_family() -> None:
    assert firewall_by_family(["10.0.0.5", "10.1.0.0/16", "2001:db8::1"]) == {
        "ip": ["10.0.0.5", "10.1.0.0/16"],
        "ip6": ["2001:db8::1"],
    }


def test_the_runs_own_address_is_admitted_by_its_network_or_by_no_sources() -> None:
    assert firewall_admits(["10.0.0.0/24"], "10.0.0.9")
    assert not firewall_admits(["10.0.0.0/24", "2001:db8::/64"], "192.0.2.4")
    assert firewall_admits([], "192.0.2.4")
