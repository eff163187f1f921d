"""Filters that wire hosts together from the inventory: exporters and scrape targets, firewall rules, balancers.

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
# Groups whose hosts run the kit's Nginx, those that serve apps, and the
# load balancers in front of them.
NGINX_GROUPS = ("web", "lb")
APP_GROUPS = ("web",)
BALANCER_GROUP = "lb"


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


def _nginx_ports(host_vars: dict) -> list[int]:
    return [int(_get(host_vars, "nginx_listen_port")), int(_get(host_vars, "nginx_tls_port"))]


def _behind_balancers(groups: dict, host_vars: dict) -> bool:
    """Whether a host's Nginx is reached through the lb group's balancers, not directly by clients."""
    names = set(host_vars.get("group_names", []))
    return bool(groups.get(BALANCER_GROUP)) and bool(names & set(APP_GROUPS)) and BALANCER_GROUP not in names


def public_ports(host_vars: dict, groups: dict | None = None) -> list[int]:
    """Return the firewall role's firewall_public_ports: Nginx's HTTP and HTTPS ports, on its hosts.

    The HTTPS port even before an app has TLS: turning TLS on takes web.yml
    or deploy.yml, which do not run the firewall's play. None on web hosts
    behind balancers: firewall_rules admits them from the balancers only.
    """
    if not set(host_vars.get("group_names", [])) & set(NGINX_GROUPS) or _behind_balancers(groups or {}, host_vars):
        return []
    return _nginx_ports(host_vars)


def balancer_addresses(groups: dict, hostvars: dict) -> list[str]:
    """Return the private addresses of the lb group's hosts: what web hosts trust and admit."""
    return [private_address(hostvars, host) for host in groups.get(BALANCER_GROUP, [])]


def balanced_sites(groups: dict, hostvars: dict, drained: list[str] | None = None) -> list[dict]:
    """Return a balancer's nginx_sites: each app of the web hosts, over every web host that serves it.

    An app is known by its first web host's entry (names, headers, TLS);
    its servers are the web hosts' private addresses at their Nginx's port,
    those in ``drained`` marked down.
    """
    sites: dict[str, dict] = {}
    for host in groups.get("web", []):
        host_vars = hostvars[host]
        address = private_address(hostvars, host)
        server = {
            "address": f"[{address}]:{_get(host_vars, 'nginx_listen_port')}"
            if ":" in address
            else f"{address}:{_get(host_vars, 'nginx_listen_port')}",
            "down": host in (drained or []),
        }
        for app in host_vars.get("flask_apps", []):
            site = sites.setdefault(
                app["name"],
                {
                    "name": app["name"],
                    "server_names": list(app["server_names"]),
                    "headers": dict(app.get("headers", {})),
                    "tls": app.get("tls", "edge"),
                    "upstream_servers": [],
                },
            )
            site["upstream_servers"].append(server)
    return list(sites.values())


def firewall_rules(groups: dict, hostvars: dict, host: str) -> list[dict]:
    """Return the firewall role's firewall_rules for ``host``: Nginx for the balancers, exporters for Prometheus.

    Exporters on loopback need no rule (Prometheus runs on this host); a
    monitoring host needs none to scrape itself.
    """
    host_vars = hostvars[host]
    rules = []
    if _behind_balancers(groups, host_vars):
        balancers = balancer_addresses(groups, hostvars)
        rules += [
            {"port": port, "sources": balancers, "protocol": "tcp", "comment": "Nginx, for the load balancers"}
            for port in _nginx_ports(host_vars)
        ]
    monitors = [m for m in groups.get("monitoring", []) if m != host]
    if not monitors or str(_get(host_vars, "exporters_listen_address")).startswith(LOOPBACK):
        return rules
    sources = [private_address(hostvars, m) for m in monitors]
    return rules + [
        {"port": int(port), "sources": sources, "protocol": "tcp", "comment": f"{name} exporter, for Prometheus"}
        for name, port in _exporters(host_vars).items()
    ]


class FilterModule:
    """The filters of the kit's own playbooks that wire hosts together (kit_*)."""

    def filters(self) -> dict:
        """Map the filters' names to their functions."""
        return {
            "kit_exporter_apps": exporter_apps,
            "kit_nginx_status_url": nginx_status_url,
            "kit_scrape_targets": scrape_targets,
            "kit_firewall_rules": firewall_rules,
            "kit_public_ports": public_ports,
            "kit_balancer_addresses": balancer_addresses,
            "kit_balanced_sites": balanced_sites,
        }
