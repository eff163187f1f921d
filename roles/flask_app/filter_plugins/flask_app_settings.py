"""One app of ``flask_apps``: its checks and its settings with defaults filled in.

The inventory describes each app as a dict (README, "Your own Flask apps").
A typo there must stop the run before any host changes, with a message that
names the app and the key, so the checks live here as plain functions with
unit tests (tests/test_flask_app_settings.py) rather than as Jinja.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
WSGI_APP = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\(\))?$")
SERVER_NAME = re.compile(r"^(_|[A-Za-z0-9*.-]+)$")
# Server names an ACME CA cannot validate by HTTP-01: any, wildcards, IP addresses.
NOT_ACME = re.compile(r"^_$|[*]|^[.]|^[0-9.]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A response header name (RFC 9110 token).
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
URL_PATH = re.compile(r"^/([\w.-]+/)*$")
HTTP_PATH = re.compile(r"^/[\w./-]*$")
SOURCE_KINDS = ("path", "wheel", "package")
# Names an app must not take: Debian's system accounts (the app's user would
# be theirs) and units or directories the kit or the system already owns.
RESERVED = frozenset(
    {
        "root",
        "daemon",
        "bin",
        "sys",
        "sync",
        "games",
        "man",
        "lp",
        "mail",
        "news",
        "uucp",
        "proxy",
        "www-data",
        "backup",
        "list",
        "irc",
        "gnats",
        "nobody",
        "_apt",
        "messagebus",
        "systemd-network",
        "systemd-resolve",
        "systemd-timesync",
        "systemd-journal",
        "sshd",
        "postfix",
        "postgres",
        "mysql",
        "redis",
        "nginx",
        "gunicorn",
        "prometheus",
        "node-exporter",
        "alertmanager",
        "certbot",
        "ssh",
        "dbus",
        "cron",
        "rsyslog",
    }
)

# Every key an app may have, with its default (None: required, no default).
DEFAULTS: dict[str, Any] = {
    "name": None,
    "source": None,
    "wsgi_app": None,
    "secret_key": None,
    "server_names": ["_"],
    "environment": {},
    "secret_key_env": "FLASK_SECRET_KEY",
    "release_env": "FLASK_RELEASE",
    "config_files": [],
    "hooks": {"before_switch": []},
    "health": {"path": "/healthz", "status": 200, "timeout": 60},
    "gunicorn": {},
    "static_dir": None,
    "static_url": "/static/",
    "lock_dir": None,
    "wheelhouse": "",
    "maintenance_page": "",
    "headers": {},
    "tls": "edge",
}
# Where an app's HTTPS certificate comes from: the edge's (nginx_tls), or
# its own from an ACME CA (certbot, the HTTP-01 challenge).
TLS_SOURCES = ("edge", "acme")

HOOK_PHASES = ("before_switch",)


def _source_errors(where: str, source: Any) -> list[str]:
    allowed = "a dict with exactly one of path (a project directory), wheel (a .whl file), package (a requirement)"
    if not isinstance(source, dict):
        return [f"{where} key 'source' is {source!r}; allowed: {allowed}"]
    kinds = [k for k in source if k in SOURCE_KINDS]
    unknown = sorted(set(source) - set(SOURCE_KINDS))
    if unknown:
        return [f"{where} key 'source' has unknown key(s) {', '.join(unknown)}; allowed: {allowed}"]
    if len(kinds) != 1:
        return [f"{where} key 'source' names {' and '.join(kinds) or 'no kind'}; allowed: {allowed}"]
    value = source[kinds[0]]
    if not isinstance(value, str) or not value:
        return [f"{where} key 'source.{kinds[0]}' is {value!r}; allowed: a non-empty string"]
    if kinds[0] == "wheel" and not value.endswith(".whl"):
        return [f"{where} key 'source.wheel' is {value!r}; allowed: a path ending in .whl"]
    return []


def _under_app_dirs(dest: str, name: str) -> bool:
    return any(dest.startswith(root) for root in (f"/etc/{name}/", f"/var/lib/{name}/"))


def _config_file_errors(where: str, name: str, files: Any) -> list[str]:
    allowed = f"a list of {{src, dest, mode}} with dest under /etc/{name}/ or /var/lib/{name}/"
    if not isinstance(files, list):
        return [f"{where} key 'config_files' is {files!r}; allowed: {allowed}"]
    errors = []
    for index, item in enumerate(files):
        if not isinstance(item, dict) or set(item) - {"src", "dest", "mode"} or not {"src", "dest"} <= set(item):
            errors.append(f"{where} key 'config_files[{index}]' is {item!r}; allowed: {allowed}")
        elif ".." in str(item["dest"]) or not _under_app_dirs(str(item["dest"]), name):
            errors.append(f"{where} key 'config_files[{index}].dest' is {item['dest']!r}; allowed: {allowed}")
    return errors


def _hook_errors(where: str, hooks: Any) -> list[str]:
    allowed = "a dict of before_switch: a list of commands (strings) or {command, creates}"
    if not isinstance(hooks, dict) or set(hooks) - set(HOOK_PHASES):
        return [f"{where} key 'hooks' is {hooks!r}; allowed: {allowed}"]
    errors = []
    for phase, commands in hooks.items():
        if not isinstance(commands, list):
            errors.append(f"{where} key 'hooks.{phase}' is {commands!r}; allowed: {allowed}")
            continue
        for index, hook in enumerate(commands):
            ok = (isinstance(hook, str) and hook.strip()) or (
                isinstance(hook, dict)
                and isinstance(hook.get("command"), str)
                and not set(hook) - {"command", "creates"}
                and str(hook.get("creates", "/")).startswith("/")
            )
            if not ok:
                errors.append(f"{where} key 'hooks.{phase}[{index}]' is {hook!r}; allowed: {allowed}")
    return errors


def _environment_errors(where: str, environment: Any) -> list[str]:
    if not isinstance(environment, dict):
        return [f"{where} key 'environment' is {environment!r}; allowed: a dict of NAME: value"]
    bad = [str(k) for k in environment if not ENV_NAME.match(str(k))]
    if bad:
        return [f"{where} key 'environment' has bad name(s) {', '.join(bad)}; allowed: letters, digits and _"]
    return []


def _int_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def flask_app_errors(app: Any) -> list[str]:
    """Every problem with one app's inventory entry, each naming the app and the key.

    An empty list means the app is fit to deploy as far as its own entry goes;
    rules between apps (duplicate names, two apps on one server name) are the
    preflight role's.
    """
    if not isinstance(app, dict):
        return [f"flask_apps: an entry is {app!r}; allowed: a dict with name, source, wsgi_app, secret_key, ..."]
    name = app.get("name")
    where = f"flask_apps: app {name!r}:"
    errors = []
    unknown = sorted(set(app) - set(DEFAULTS))
    if unknown:
        errors.append(f"{where} unknown key(s) {', '.join(unknown)}; allowed: {', '.join(DEFAULTS)}")
    missing = [k for k, v in DEFAULTS.items() if v is None and k not in ("static_dir", "lock_dir") and not app.get(k)]
    if missing:
        errors.append(f"{where} missing key(s) {', '.join(missing)}; they are required")
    if name in RESERVED:
        errors.append(f"{where} key 'name' is {name!r}, a system account or service; allowed: any other name")
        return errors
    if not isinstance(name, str) or not NAME.match(name):
        errors.append(
            f"{where} key 'name' is {name!r};"
            " allowed: a Linux user name (lowercase letters, digits, _ and -; at most 32)"
        )
        return errors
    if "source" in app:
        errors += _source_errors(where, app["source"])
    if "wsgi_app" in app and not WSGI_APP.match(str(app["wsgi_app"])):
        errors.append(
            f"{where} key 'wsgi_app' is {app['wsgi_app']!r}; allowed: 'module:variable' or 'module:factory()'"
        )
    if "secret_key" in app and not isinstance(app["secret_key"], str):
        errors.append(f"{where} key 'secret_key' is not a string; allowed: a string, kept in a vault file")
    names = app.get("server_names", DEFAULTS["server_names"])
    if not isinstance(names, list) or not names or not all(SERVER_NAME.match(str(n)) for n in names):
        errors.append(f"{where} key 'server_names' is {names!r}; allowed: a list of host names, or ['_'] for any")
    elif "_" in names and len(names) > 1:
        errors.append(f"{where} key 'server_names' mixes '_' with names; allowed: ['_'] alone, or host names")
    errors += _environment_errors(where, app.get("environment", {}))
    for key in ("secret_key_env", "release_env"):
        if key in app and not ENV_NAME.match(str(app[key])):
            errors.append(f"{where} key '{key}' is {app[key]!r}; allowed: an environment variable name")
    errors += _config_file_errors(where, name, app.get("config_files", []))
    errors += _hook_errors(where, app.get("hooks", {}))
    health = app.get("health", {})
    if (
        not isinstance(health, dict)
        or set(health) - {"path", "status", "timeout"}
        or not HTTP_PATH.match(str(health.get("path", "/")))
        or not _int_in(health.get("status", 200), 100, 599)
        or not _int_in(health.get("timeout", 60), 1, 600)
    ):
        errors.append(
            f"{where} key 'health' is {health!r}; allowed: {{path: /healthz, status: 200 (100 to 599),"
            " timeout: 60 (seconds the new release has to answer, 1 to 600)}"
        )
    headers = app.get("headers", {})
    if not isinstance(headers, dict) or not all(
        HEADER_NAME.match(str(k)) and (v is None or (isinstance(v, str) and '"' not in v and "\n" not in v))
        for k, v in headers.items()
    ):
        errors.append(
            f"{where} key 'headers' is {headers!r}; allowed: a dict of response header name to value (no double"
            " quotes), or to null or '' to drop one of nginx_security_headers"
        )
    tls = app.get("tls", DEFAULTS["tls"])
    if tls not in TLS_SOURCES:
        errors.append(
            f"{where} key 'tls' is {tls!r}; allowed: 'edge' (the host's nginx_tls certificate) or 'acme'"
            " (its own certificate from nginx_acme_directory)"
        )
    elif tls == "acme" and isinstance(names, list):
        refused = [str(n) for n in names if NOT_ACME.search(str(n))]
        if refused:
            errors.append(
                f"{where} key 'tls' is 'acme' but server_names has {', '.join(refused)}: the HTTP-01 challenge"
                " proves DNS names only; allowed: DNS names (no '_', wildcard or IP address) that reach this"
                " host, or tls: edge"
            )
    if not isinstance(app.get("maintenance_page", ""), str):
        errors.append(
            f"{where} key 'maintenance_page' is {app['maintenance_page']!r}; allowed: an HTML file's path, or ''"
        )
    if not isinstance(app.get("gunicorn", {}), dict):
        errors.append(f"{where} key 'gunicorn' is {app['gunicorn']!r}; allowed: a dict of the gunicorn role's settings")
    static_dir = app.get("static_dir")
    if static_dir is not None and (not isinstance(static_dir, str) or ".." in static_dir.split("/")):
        errors.append(
            f"{where} key 'static_dir' is {static_dir!r}; allowed: a directory inside the app's package, or ''"
        )
    if not URL_PATH.match(str(app.get("static_url", "/static/"))):
        errors.append(f"{where} key 'static_url' is {app['static_url']!r}; allowed: a URL path such as /static/")
    return errors


def flask_app_settings(app: dict, lock_dir: str = "") -> dict:
    """Return the app with every optional key filled in; ``lock_dir`` is the default lock directory."""
    settings = {k: v for k, v in DEFAULTS.items() if v is not None}
    settings.update(app)
    settings["hooks"] = {**DEFAULTS["hooks"], **app.get("hooks", {})}
    settings["health"] = {**DEFAULTS["health"], **app.get("health", {})}
    settings["lock_dir"] = app.get("lock_dir") or lock_dir
    kind = next(k for k in SOURCE_KINDS if k in app["source"])
    settings["source_kind"] = kind
    module = app["wsgi_app"].split(":", 1)[0]
    settings["package"] = module.split(".", 1)[0]
    settings["static_required"] = app.get("static_dir") is not None
    if app.get("static_dir") is None:
        settings["static_dir"] = "static"
    return settings


def manylinux_platforms(glibc: str, arch: str) -> list[str]:
    """Platform tags of binary wheels a host with this glibc accepts, newest first.

    ``glibc`` is what ``getconf GNU_LIBC_VERSION`` prints ("glibc 2.36") or
    the version alone. PEP 600: manylinux_2_Y runs on glibc 2.Y and newer;
    manylinux2014 is manylinux_2_17.
    """
    match = re.search(r"(\d+)\.(\d+)", glibc)
    if not match or match.group(1) != "2":
        raise ValueError(f"cannot read a glibc 2.x version from {glibc!r}")
    newest = int(match.group(2))
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(newest, 16, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def flask_app_lock_target(python: str, lock_dir: str, suffix: str = "") -> dict:
    """Name the lock a host needs: its Python (major.minor) and the file."""
    return {"python": python, "lock": f"{lock_dir}/py{python}{suffix}.txt"}


def flask_app_build_targets(hosts: list[dict], app: str) -> list[dict]:
    """List the distinct builds an app needs, from the hostvars of the play's hosts.

    Each host that runs the app noted its ``__flask_app_target`` (Python,
    platform tags, lock); hosts without the app, or with another app's
    target, are left out.
    """
    targets: list[dict] = []
    for hostvars in hosts:
        target = hostvars.get("__flask_app_target")
        if isinstance(target, Mapping) and target.get("app") == app and dict(target) not in targets:
            targets.append(dict(target))
    return targets


def flask_app_live(record: list[dict]) -> dict:
    """Return an app's live release by its deploy record: the last entry that went live, or {}."""
    live = [entry for entry in record if entry.get("result") == "live"]
    return live[-1] if live else {}


def flask_app_prunable(installed: list[str], record: list[dict], keep: int) -> list[str]:
    """Release directories to remove, given the installed ones and the app's deploy record.

    Kept: the ``keep`` releases that went live most recently (by the record,
    not by directory times), and always the live and the previous live one.
    Releases that never went live (failed deploys, or installed by hand) do
    not count against ``keep`` and are removed.
    """
    by_release = {path.rstrip("/").rsplit("/", 1)[-1]: path for path in installed}
    newest_first: list[str] = []
    for entry in reversed(record):
        if entry.get("result") == "live" and entry.get("release") not in newest_first:
            newest_first.append(entry["release"])
    live = flask_app_live(record)
    kept = set(newest_first[: max(keep, 1)]) | {live.get("release"), live.get("previous")}
    return sorted(path for release, path in by_release.items() if release not in kept)


def flask_app_healthy(result: dict, health: dict, release: str) -> bool:
    """Whether a health check's answer (a ``uri`` result) says ``release`` is up.

    The status must be the expected one; where the answer is JSON with a
    ``release`` key, it must name ``release`` (an old worker's answer is not
    the new release's).
    """
    if result.get("status") != int(health.get("status", 200)):
        return False
    body = result.get("json")
    return not (isinstance(body, dict) and "release" in body and str(body["release"]) != release)


def flask_app_health_detail(result: dict, limit: int = 200) -> str:
    """One line on a failed health check: status or error, and the start of the body."""
    status = result.get("status", -1)
    body = " ".join(str(result.get("content", "") or "").split())[:limit]
    reason = f"status {status}" if status and status > 0 else "no answer"
    message = " ".join(str(result.get("msg", "") or "").split())[:limit]
    if status and status > 0:
        return f"{reason}, body '{body}'"
    return f"{reason} ({message})" if message else reason


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict:
        """Map filter names to functions."""
        return {
            "flask_app_errors": flask_app_errors,
            "flask_app_settings": flask_app_settings,
            "manylinux_platforms": manylinux_platforms,
            "flask_app_lock_target": flask_app_lock_target,
            "flask_app_prunable": flask_app_prunable,
            "flask_app_live": flask_app_live,
            "flask_app_healthy": flask_app_healthy,
            "flask_app_health_detail": flask_app_health_detail,
            "flask_app_build_targets": flask_app_build_targets,
        }
