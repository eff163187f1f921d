"""Filters of playbooks/monitoring.yml: what each host exports, and what Prometheus scrapes.

Both read the inventory (hostvars), so that a run limited to some hosts
(``-l``) still writes a scrape configuration naming every host. Where the
inventory sets nothing, the roles' defaults apply; DEFAULTS repeats them,
and tests/test_kit_monitoring.py fails when a role's default changes
without them.
"""

from __future__ import annotations

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
        names = host_vars.get("group_names", [])
        exporters = {"node": _get(host_vars, "exporters_node_port")}
        if nginx_status_url(host_vars, names):
            exporters["nginx"] = _get(host_vars, "exporters_nginx_port")
        apps = exporter_apps(host_vars) if set(names) & set(APP_GROUPS) else []
        if apps:
            exporters["mtail"] = _get(host_vars, "exporters_mtail_port")
            exporters["process"] = _get(host_vars, "exporters_process_port")
            exporters["blackbox"] = _get(host_vars, "exporters_blackbox_port")
        targets.append(
            {
                "host": host,
                "address": f"[{address}]" if ":" in address else address,
                "exporters": exporters,
                "apps": [{k: app[k] for k in ("name", "health_url", "tls_address")} for app in apps],
            }
        )
    return targets


class FilterModule:
    """kit_exporter_apps, kit_nginx_status_url, kit_scrape_targets."""

    def filters(self) -> dict:
        """Map the filters' names to their functions."""
        return {
            "kit_exporter_apps": exporter_apps,
            "kit_nginx_status_url": nginx_status_url,
            "kit_scrape_targets": scrape_targets,
        }
