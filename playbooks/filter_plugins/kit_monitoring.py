"""Filters of playbooks/monitoring.yml and firewall.yml: exporters, scrape targets, and the firewall's rules.

They read the inventory (hostvars), so that a run limited to some hosts
(``-l``) still writes a scrape configuration naming every host. Where the
inventory sets nothing, the roles' defaults apply; DEFAULTS repeats them,
and tests/test_kit_monitoring.py fails when a role's default changes
without them.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError

# The nginx, flask_app and exporters roles' defaults this file reads.
DEFAULTS = {
    "nginx_listen_port": 80,
    "nginx_tls": False,
    "nginx_tls_port": 443,
    "nginx_status_listen": "127.0.0.1:8090",
    "exporters_listen_address": "127.0.0.1",
    "exporters_node_port": 9100,
    "exporters_nginx_port": 9113,
    "exporters_mtail_port": 3903,
    "exporters_process_port": 9256,
    "exporters_blackbox_port": 9115,
}
HEALTH = {"path": "/healthz", "status": 200}
LOOPBACK = ("127.", "::1", "localhost")
# Groups whose hosts run the kit's Nginx, and those that serve apps.
NGINX_GROUPS = ("web",)
APP_GROUPS = ("web",)


def _get(host_vars: dict, name: str) -> object:
    return host_vars.get(name, DEFAULTS[name])


def exporter_apps(host_vars: dict) -> list[dict]:
    """Return the exporters role's exporters_apps for a web host: each app's probe through its own Nginx."""
    port = _get(host_vars, "nginx_listen_port")
    apps = []
    for app in host_vars.get("flask_apps", []):
        # HTTPS with the edge's certificate, or the app's own from the ACME CA.
        tls = bool(_get(host_vars, "nginx_tls")) or app.get("tls") == "acme"
        health = {**HEALTH, **app.get("health", {})}
        names = [n for n in app.get("server_names", ["_"]) if n != "_"]
        host = names[0] if names else "localhost"
        apps.append(
            {
                "name": app["name"],
                "health_url": f"http://127.0.0.1:{port}{health['path']}",
                "host": host,
                "status": int(health["status"]),
                "tls_address": f"127.0.0.1:{_get(host_vars, 'nginx_tls_port')}" if tls else "",
                "tls_server_name": host if tls else "",
            }
        )
    return apps


def nginx_status_url(host_vars: dict, group_names: list[str]) -> str:
    """Nginx's stub_status URL on a host that runs the kit's Nginx, else ''."""
    listen = str(_get(host_vars, "nginx_status_listen"))
    if not listen or not set(group_names) & set(NGINX_GROUPS):
        return ""
    return f"http://{listen if ':' in listen else '127.0.0.1:' + listen}/stub_status"


def scrape_targets(groups: dict, hostvars: dict, monitoring_host: str) -> list[dict]:
    """monitoring_targets for the monitoring role: every host of the inventory and its exporters.

    A host other than ``monitoring_host`` whose exporters listen on loopback
    cannot be scraped: that is an inventory error, named with the variable.
    """
    targets = []
    for host in sorted(set(groups.get("all", [])) - {"localhost"}):
        host_vars = hostvars[host]
        address = str(_get(host_vars, "exporters_listen_address"))
        if host != monitoring_host and address.startswith(LOOPBACK):
            raise AnsibleFilterError(
                f"host {host}: exporters_listen_address is {address}, which the monitoring host {monitoring_host}"
                " cannot reach; allowed: an address of this host that the monitoring host reaches (its private one)"
            )
        apps = exporter_apps(host_vars) if set(host_vars.get("group_names", [])) & set(APP_GROUPS) else []
        targets.append(
            {
                "host": host,
                "address": f"[{address}]" if ":" in address else address,
                "exporters": _exporters(host_vars),
                "apps": [{k: app[k] for k in ("name", "health_url", "tls_address")} for app in apps],
            }
        )
    return targets


def _exporters(host_vars: dict) -> dict[str, int]:
    """Return the exporters a host runs, by name, with their ports."""
    names = host_vars.get("group_names", [])
    exporters = {"node": _get(host_vars, "exporters_node_port")}
    if nginx_status_url(host_vars, names):
        exporters["nginx"] = _get(host_vars, "exporters_nginx_port")
    if set(names) & set(APP_GROUPS) and host_vars.get("flask_apps"):
        exporters["mtail"] = _get(host_vars, "exporters_mtail_port")
        exporters["process"] = _get(host_vars, "exporters_process_port")
        exporters["blackbox"] = _get(host_vars, "exporters_blackbox_port")
    return exporters


def private_address(hostvars: dict, host: str) -> str:
    """Return the address a host reaches the others from: private_address, else ansible_host if an address."""
    host_vars = hostvars[host]
    address = str(host_vars.get("private_address") or host_vars.get("ansible_host") or host)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise AnsibleFilterError(
            f"host {host}: private_address is not set and its ansible_host ({address}) is not an IP address;"
            " allowed: the IPv4 or IPv6 address this host reaches the other hosts from (its private one)"
        ) from None


def public_ports(host_vars: dict) -> list[int]:
    """Return the firewall role's firewall_public_ports: Nginx's HTTP and HTTPS ports, on its hosts.

    The HTTPS port even before an app has TLS: turning TLS on takes web.yml
    or deploy.yml, which do not run the firewall's play.
    """
    if not set(host_vars.get("group_names", [])) & set(NGINX_GROUPS):
        return []
    return [int(_get(host_vars, "nginx_listen_port")), int(_get(host_vars, "nginx_tls_port"))]


def firewall_rules(groups: dict, hostvars: dict, host: str) -> list[dict]:
    """Return the firewall role's firewall_rules for ``host``: its exporters' ports, for the monitoring hosts.

    Exporters on loopback need no rule (Prometheus runs on this host); a
    monitoring host needs none to scrape itself.
    """
    host_vars = hostvars[host]
    monitors = [m for m in groups.get("monitoring", []) if m != host]
    if not monitors or str(_get(host_vars, "exporters_listen_address")).startswith(LOOPBACK):
        return []
    sources = [private_address(hostvars, m) for m in monitors]
    return [
        {"port": int(port), "sources": sources, "protocol": "tcp", "comment": f"{name} exporter, for Prometheus"}
        for name, port in _exporters(host_vars).items()
    ]


class FilterModule:
    """kit_exporter_apps, kit_nginx_status_url, kit_scrape_targets, kit_firewall_rules, kit_public_ports."""

    def filters(self) -> dict:
        """Map the filters' names to their functions."""
        return {
            "kit_exporter_apps": exporter_apps,
            "kit_nginx_status_url": nginx_status_url,
            "kit_scrape_targets": scrape_targets,
            "kit_firewall_rules": firewall_rules,
            "kit_public_ports": public_ports,
        }
