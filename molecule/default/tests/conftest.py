"""Fixtures shared by the testinfra suites: how to reach the deployed stack."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPMessage
from pathlib import Path

import pytest
import yaml

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
# The scenario's inventory: the apps and their settings, as a user writes them.
INVENTORY = yaml.safe_load((PROJECT / "molecule/default/inventory/group_vars/web.yml").read_text())
APPS = {app["name"]: app for app in INVENTORY["flask_apps"]}
SAMPLE, GUESTBOOK = "sample_app", "guestbook"
# The Host header each app answers to.
HOSTS = {SAMPLE: "kit.test", GUESTBOOK: "guestbook.test"}


def apps_with(**changes: dict) -> list[dict]:
    """flask_apps as the inventory has it, with some apps' keys replaced: apps_with(guestbook={...})."""
    apps = copy.deepcopy(INVENTORY["flask_apps"])
    for app in apps:
        app.update(changes.get(app["name"], {}))
    return apps


def new_release_of(source: Path, tmp_path: Path, version: str) -> str:
    """A copy of an app's project with another version: a new release with the same dependencies."""
    copy_dir = tmp_path / source.name
    shutil.copytree(source, copy_dir, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests"))
    pyproject = copy_dir / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    return str(copy_dir)


@dataclass
class Response:
    """What a client got back: status, headers and body."""

    status: int
    headers: HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def http_get(url: str, timeout: float = 5.0, host: str | None = None, data: bytes | None = None) -> Response:
    """GET (or POST ``data`` to) ``url`` from the controller, returning error statuses as well."""
    request = urllib.request.Request(url, data=data, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return Response(reply.status, reply.headers, reply.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def address(host) -> str:
    """The test VM's address on the Docker bridge, as a client would use it."""
    return host.interface("eth0").addresses[0]


@pytest.fixture(scope="module")
def facts(host) -> dict:
    return host.ansible("setup")["ansible_facts"]


def master_pid(host, app: str = SAMPLE) -> int:
    """The Gunicorn master of an app (its service's main process)."""
    return int(host.check_output(f"systemctl show -P MainPID {app}.service"))


def worker_pids(host, master: int) -> set[str]:
    return set(host.check_output(f"ps --no-headers -o pid --ppid {master}").split())


def live_release(host, app: str = SAMPLE) -> str:
    return host.file(f"/opt/{app}/current").linked_to.rsplit("/", 1)[-1]


@pytest.fixture
def gunicorn_master(host) -> int:
    pid = master_pid(host)
    assert pid > 0, "sample_app.service has no main process"
    return pid


def deployed_state(host) -> str:
    """Checksums of every app's deployed files, its live release and its release list, and nginx.conf.

    A rejected run must leave every one of them as it was.
    """
    files = ["/etc/nginx/nginx.conf"]
    for app in APPS:
        files += [
            f"/etc/gunicorn/{app}.conf.py",
            f"/etc/systemd/system/{app}.service",
            f"/etc/systemd/system/{app}.socket",
            f"/etc/{app}/app.env",
        ]
    links = " ".join(f"/opt/{app}/current" for app in APPS)
    releases = " ".join(f"/opt/{app}/releases" for app in APPS)
    return host.check_output(f"sha256sum {' '.join(files)}; readlink {links}; ls {releases}")


def run_playbook(*args: str, extra_vars: dict | None = None, roles_path: str | None = None):
    """Run site.yml against the Molecule inventory; return the completed process."""
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    if roles_path:
        env["ANSIBLE_ROLES_PATH"] = roles_path
    command = [
        "ansible-playbook",
        str(PROJECT / "site.yml"),
        "-i",
        str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent),
        *args,
    ]
    if extra_vars is not None:
        command += ["-e", json.dumps(extra_vars)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


def recap_changed(output: str) -> int:
    """Sum of changed= over the PLAY RECAP lines of an ansible-playbook run."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


def wait_for_200(url: str, deadline: float = 60.0) -> float:
    """Seconds until ``url`` answers 200; fails the test after ``deadline``."""
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            if http_get(url, timeout=2).status == 200:
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer 200 within {deadline:.0f} s")


@dataclass
class LoadResult:
    """Outcome of a bounded request loop."""

    ok: int
    failed: list[str]


def steady_load(url: str, until, max_requests: int = 20_000, max_seconds: float = 180.0, clients: int = 4):
    """Send GETs from ``clients`` threads until ``until()`` is true, or a bound is hit.

    Each client sends at most 10 requests a second, so the load (40 r/s from
    one address) stays under Nginx's per-address rate limit of 50 r/s: any
    429 would be a real failure. Bounded in count and time, the loop always
    stops by itself. A failure is any answer but 200, or none.
    """
    import threading

    lock = threading.Lock()
    result = LoadResult(0, [])
    issued = 0
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        nonlocal issued
        while not until() and time.monotonic() < deadline:
            with lock:
                if issued >= max_requests:
                    return
                issued += 1
            started = time.monotonic()
            try:
                status = http_get(url, timeout=30).status
                outcome = None if status == 200 else f"HTTP {status}"
            except OSError as error:
                outcome = repr(error)
            with lock:
                if outcome is None:
                    result.ok += 1
                else:
                    result.failed.append(outcome)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def settled_workers(host, expected: int, deadline: float = 30.0, app: str = SAMPLE) -> list[str]:
    """Worker pids of an app's Gunicorn master once their count is ``expected`` (or the deadline passed)."""
    end = time.monotonic() + deadline
    while True:
        master = master_pid(host, app)
        pids = host.check_output(f"ps --no-headers -o pid --ppid {master}").split()
        if len(pids) == expected or time.monotonic() > end:
            return pids
        time.sleep(0.2)


def app_cpus(facts: dict, app: str) -> float:
    """CPUs an app is sized from: its cpu_weight share of the host's, never below one."""
    weights = {name: entry.get("gunicorn", {}).get("cpu_weight", 100) for name, entry in APPS.items()}
    return max(1.0, facts["ansible_processor_nproc"] * weights[app] / sum(weights.values()))
