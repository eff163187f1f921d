"""What a fleet derives from the inventory: the balancers' sites, and what web hosts behind them admit."""

from __future__ import annotations

from pathlib import Path

import yaml
from kit_monitoring import balanced_sites, balancer_addresses, firewall_rules, public_ports

SHOP = {"name": "shop", "server_names": ["shop.example.com"], "headers": {"X-Frame-Options": None}}
API = {"name": "api", "server_names": ["api.example.com"], "tls": "acme"}
GROUPS = {"all": ["lb1", "web1", "web2"], "lb": ["lb1"], "web": ["web1", "web2"]}
HOSTVARS = {
    "lb1": {"group_names": ["lb"], "ansible_host": "203.0.113.10", "private_address": "10.0.0.10"},
    "web1": {"group_names": ["web"], "ansible_host": "10.0.0.21", "flask_apps": [SHOP, API]},
    "web2": {
        "group_names": ["web"],
        "ansible_host": "web2.example.com",
        "private_address": "fd00::22",
        "nginx_listen_port": 8080,
        "flask_apps": [SHOP],
    },
}


def test_each_app_is_balanced_over_the_web_hosts_that_serve_it() -> None:
    sites = {site["name"]: site for site in balanced_sites(GROUPS, HOSTVARS)}
    assert sites["shop"]["upstream_servers"] == [
        {"address": "10.0.0.21:80", "down": False},
        {"address": "[fd00::22]:8080", "down": False},
    ]
    assert sites["api"]["upstream_servers"] == [{"address": "10.0.0.21:80", "down": False}]
    # The app's names, headers and certificate go to the edge.
    assert sites["shop"]["server_names"] == ["shop.example.com"]
    assert sites["shop"]["headers"] == {"X-Frame-Options": None}
    assert (sites["shop"]["tls"], sites["api"]["tls"]) == ("edge", "acme")


def test_a_drained_host_is_marked_down_and_kept() -> None:
    sites = balanced_sites(GROUPS, HOSTVARS, ["web2"])
    shop = next(site for site in sites if site["name"] == "shop")
    assert [server["down"] for server in shop["upstream_servers"]] == [False, True]


def test_web_hosts_behind_balancers_admit_nginx_from_them_only() -> None:
    assert balancer_addresses(GROUPS, HOSTVARS) == ["10.0.0.10"]
    assert public_ports(HOSTVARS["web1"], GROUPS) == []
    rules = firewall_rules(GROUPS, HOSTVARS, "web2")
    assert [(rule["port"], rule["sources"]) for rule in rules] == [(8080, ["10.0.0.10"]), (443, ["10.0.0.10"])]
    # The balancers are the edge.
    assert public_ports(HOSTVARS["lb1"], GROUPS) == [80, 443]
    assert firewall_rules(GROUPS, HOSTVARS, "lb1") == []


def test_without_balancers_web_hosts_are_the_edge() -> None:
    groups = {"all": ["web1"], "web": ["web1"]}
    assert public_ports(HOSTVARS["web1"], groups) == [80, 443]
    assert firewall_rules(groups, HOSTVARS, "web1") == []
    assert balancer_addresses(groups, HOSTVARS) == []


def test_the_fleet_scenario_connects_as_production_does() -> None:
    # molecule/fleet reaches its hosts with inventories/production's
    # connection settings, on the same groups (never on all: localhost).
    root = Path(__file__).parents[1]
    production, fleet = root / "inventories/production/group_vars", root / "molecule/fleet/inventory/group_vars"
    for group in ("web", "lb", "monitoring"):
        source = production / group / "main.yml" if (production / group).is_dir() else production / f"{group}.yml"
        expected = {k: v for k, v in yaml.safe_load(source.read_text()).items() if k.startswith("ansible_")}
        actual = yaml.safe_load((fleet / f"{group}.yml").read_text())
        assert {k: actual.get(k) for k in expected} == expected, group
    assert "ansible_become" not in yaml.safe_load((fleet / "all.yml").read_text())
