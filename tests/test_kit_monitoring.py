"""What monitoring.yml derives from the inventory: each host's exporters and Prometheus's targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from flask_app_settings import DEFAULTS as APP_DEFAULTS
from kit_monitoring import (
    DEFAULTS,
    HEALTH,
    exporter_apps,
    firewall_rules,
    nginx_status_url,
    public_ports,
    scrape_targets,
)

ROLES = Path(__file__).parents[1] / "roles"
APPS = [
    {"name": "shop", "server_names": ["shop.example.com", "www.shop.example.com"]},
    {"name": "api", "server_names": ["_"], "health": {"path": "/ready", "status": 204}},
]


def test_the_defaults_repeated_are_the_roles_own() -> None:
    roles = {}
    for role in ("nginx", "exporters"):
        roles.update(yaml.safe_load((ROLES / role / "defaults/main.yml").read_text()))
    assert {name: roles[name] for name in DEFAULTS} == DEFAULTS
    assert {key: APP_DEFAULTS["health"][key] for key in HEALTH} == HEALTH


def test_each_app_is_probed_through_its_hosts_nginx_by_its_first_name() -> None:
    apps = exporter_apps({"flask_apps": APPS, "nginx_listen_port": 8081})
    assert apps[0]["health_url"] == "http://127.0.0.1:8081/healthz"
    assert (apps[0]["host"], apps[0]["status"], apps[0]["tls_address"]) == ("shop.example.com", 200, "")
    assert apps[1]["health_url"] == "http://127.0.0.1:8081/ready"
    assert (apps[1]["host"], apps[1]["status"]) == ("localhost", 204)


def test_with_tls_each_apps_certificate_is_probed_by_its_name() -> None:
    apps = exporter_apps({"flask_apps": APPS, "nginx_tls": True, "nginx_tls_port": 8443})
    assert (apps[0]["tls_address"], apps[0]["tls_server_name"]) == ("127.0.0.1:8443", "shop.example.com")


def test_an_app_with_its_own_acme_certificate_is_probed_over_tls() -> None:
    apps = exporter_apps({"flask_apps": [{**APPS[0], "tls": "acme"}, APPS[1]]})
    assert (apps[0]["tls_address"], apps[0]["tls_server_name"]) == ("127.0.0.1:443", "shop.example.com")
    assert apps[1]["tls_address"] == ""


def test_nginx_is_exported_where_the_kit_runs_it() -> None:
    assert nginx_status_url({}, ["web"]) == "http://127.0.0.1:8090/stub_status"
    assert nginx_status_url({"nginx_status_listen": ""}, ["web"]) == ""
    assert nginx_status_url({}, ["monitoring"]) == ""


def test_every_host_is_a_target_with_what_it_runs() -> None:
    groups = {"all": ["web1", "mon"], "web": ["web1"], "monitoring": ["mon"]}
    hostvars = {
        "web1": {"group_names": ["web"], "flask_apps": APPS, "exporters_listen_address": "10.0.0.11"},
        "mon": {"group_names": ["monitoring"]},
    }
    targets = {t["host"]: t for t in scrape_targets(groups, hostvars, "mon")}
    assert targets["web1"]["address"] == "10.0.0.11"
    assert set(targets["web1"]["exporters"]) == {"node", "nginx", "mtail", "process", "blackbox"}
    assert [a["name"] for a in targets["web1"]["apps"]] == ["shop", "api"]
    assert targets["mon"] == {"host": "mon", "address": "127.0.0.1", "exporters": {"node": 9100}, "apps": []}


def test_a_host_on_loopback_elsewhere_is_an_inventory_error() -> None:
    groups = {"all": ["web1", "mon"], "web": ["web1"], "monitoring": ["mon"]}
    hostvars = {"web1": {"group_names": ["web"], "flask_apps": APPS}, "mon": {"group_names": ["monitoring"]}}
    with pytest.raises(AnsibleFilterError, match=re.escape("host web1: exporters_listen_address is 127.0.0.1")):
        scrape_targets(groups, hostvars, "mon")


def test_each_exporter_is_admitted_from_the_monitoring_hosts_only() -> None:
    groups = {"all": ["web1", "mon"], "web": ["web1"], "monitoring": ["mon"]}
    hostvars = {
        "web1": {"group_names": ["web"], "flask_apps": APPS, "exporters_listen_address": "10.0.0.11"},
        "mon": {"group_names": ["monitoring"], "ansible_host": "203.0.113.9", "private_address": "10.0.0.30"},
    }
    rules = firewall_rules(groups, hostvars, "web1")
    assert {r["port"] for r in rules} == {9100, 9113, 3903, 9256, 9115}
    assert all(r["sources"] == ["10.0.0.30"] and r["protocol"] == "tcp" for r in rules)
    # The monitoring host scrapes itself on loopback.
    assert firewall_rules(groups, hostvars, "mon") == []


def test_exporters_on_loopback_need_no_rule() -> None:
    groups = {"all": ["web1"], "web": ["web1"], "monitoring": ["web1"]}
    assert firewall_rules(groups, {"web1": {"group_names": ["web", "monitoring"], "flask_apps": APPS}}, "web1") == []


def test_a_monitoring_host_known_by_name_only_is_an_inventory_error() -> None:
    groups = {"all": ["web1", "mon"], "web": ["web1"], "monitoring": ["mon"]}
    hostvars = {
        "web1": {"group_names": ["web"], "exporters_listen_address": "10.0.0.11"},
        "mon": {"group_names": ["monitoring"], "ansible_host": "mon.example.com"},
    }
    with pytest.raises(AnsibleFilterError, match=re.escape("host mon: private_address is not set")):
        firewall_rules(groups, hostvars, "web1")


def test_public_ports_are_nginx_s_on_its_hosts_only() -> None:
    assert public_ports({"group_names": ["web"], "flask_apps": APPS}) == [80, 443]
    assert public_ports({"group_names": ["web"], "nginx_listen_port": 8080, "nginx_tls_port": 8443}) == [8080, 8443]
    assert public_ports({"group_names": ["monitoring"]}) == []
