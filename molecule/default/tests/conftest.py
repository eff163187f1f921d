"""Fixtures shared by the testinfra suites: how to reach the deployed stack."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
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


def deploy_record(host, app: str = SAMPLE) -> list[dict]:
    """The app's deploy record on the host, oldest first."""
    return json.loads(host.file(f"/opt/{app}/deploys.json").content_string)


def live_slot(host, app: str = SAMPLE) -> str:
    """The slot (blue or green) the app's last successful switch made live."""
    return [entry for entry in deploy_record(host, app) if entry["result"] == "live"][-1]["slot"]


def live_unit(host, app: str = SAMPLE) -> str:
    """The app's live Gunicorn service, e.g. sample_app@blue.service."""
    return f"{app}@{live_slot(host, app)}.service"


def live_socket(host, app: str = SAMPLE) -> str:
    return f"/run/{app}/{live_slot(host, app)}.sock"


def master_pid(host, app: str = SAMPLE) -> int:
    """The Gunicorn master of an app's live slot (its service's main process)."""
    return int(host.check_output(f"systemctl show -P MainPID {live_unit(host, app)}"))


def worker_pids(host, master: int) -> set[str]:
    return set(host.check_output(f"ps --no-headers -o pid --ppid {master}").split())


def live_release(host, app: str = SAMPLE) -> str:
    return host.file(f"/opt/{app}/current").linked_to.rsplit("/", 1)[-1]


@pytest.fixture
def gunicorn_master(host) -> int:
    pid = master_pid(host)
    assert pid > 0, "the live slot of sample_app has no main process"
    return pid


def deployed_state(host) -> str:
    """Checksums of every app's deployed files, its live release and its release list, nginx.conf and the firewall's.

    A rejected run must leave every one of them as it was.
    """
    files = ["/etc/nginx/nginx.conf", "/etc/nftables.conf"]
    for app in APPS:
        files += [
            f"/etc/gunicorn/{app}.conf.py",
            f"/etc/systemd/system/{app}@.service",
            f"/etc/systemd/system/{app}@.socket",
            f"/etc/{app}/app.env",
            f"/etc/nginx/live/{app}.conf",
        ]
    links = " ".join(f"/opt/{app}/current" for app in APPS)
    releases = " ".join(f"/opt/{app}/releases" for app in APPS)
    return host.check_output(f"sha256sum {' '.join(files)}; readlink {links}; ls {releases}")


def run_playbook(
    *args: str, extra_vars: dict | None = None, roles_path: str | None = None, book: str = "playbooks/web.yml"
):
    """Run the apps' part of site.yml (playbooks/web.yml) against the Molecule inventory; return the process.

    site.yml is web.yml, then monitoring.yml and firewall.yml, which the
    apps' tests do not change: they skip their 30 s a run. Molecule's
    converge, check and idempotence steps run site.yml whole (and the fleet
    scenario's tests over SSH as an operator does).
    """
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    if roles_path:
        env["ANSIBLE_ROLES_PATH"] = roles_path
    command = [
        "ansible-playbook",
        str(PROJECT / book),
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


@dataclass
class Stream:
    """What a bounded stream of GET /healthz requests saw, in the order they were sent."""

    answers: list[tuple[float, float, int, str]] = field(default_factory=list)  # sent, seconds, status, release

    @property
    def failed(self) -> list[str]:
        return [f"HTTP {status} {release}" for _, _, status, release in self.answers if status != 200]

    def releases(self) -> set[str]:
        return {release for _, _, status, release in self.answers if status == 200}

    def latencies(self) -> str:
        seconds = sorted(took for _, took, _, _ in self.answers)
        if not seconds:
            return "no requests"
        p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
        return (
            f"{len(seconds)} requests, p50 {statistics.median(seconds) * 1000:.0f} ms,"
            f" p99 {p99 * 1000:.0f} ms, max {seconds[-1] * 1000:.0f} ms"
        )

    def old_after_new(self, new: str, overlap: float = 1.0) -> list[str]:
        """Answers from another release to requests sent after the first answer from ``new`` arrived.

        A reload lets Nginx's old workers take a connection or two while its
        new ones already answer: requests sent within ``overlap`` seconds of
        that first answer are theirs to answer.
        """
        arrived = [sent + took for sent, took, status, release in self.answers if release == new]
        if not arrived:
            return []
        first = min(arrived) + overlap
        return [release for sent, _, status, release in self.answers if sent > first and release != new]


def stream(
    url: str, host: str, until, max_requests: int = 6000, max_seconds: float = 300.0, clients: int = 4
) -> Stream:
    """GET ``url`` from ``clients`` clients, 10 a second each (under Nginx's 50 r/s per address), until ``until()``.

    Bounded in count and time: it always stops by itself.
    """
    lock = threading.Lock()
    seen = Stream()
    issued = 0
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        nonlocal issued
        while not until() and time.monotonic() < deadline:
            with lock:
                if issued >= max_requests:
                    return
                issued += 1
            sent = time.monotonic()
            try:
                response = http_get(url, timeout=30, host=host)
                status = response.status
                release = response.json().get("release", "") if status == 200 else response.body[:80].decode()
            except (OSError, ValueError) as error:
                status, release = 0, repr(error)
            with lock:
                seen.answers.append((sent, time.monotonic() - sent, status, release))
            time.sleep(max(0.0, 0.1 - (time.monotonic() - sent)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen.answers.sort()
    return seen


def under_stream(
    address: str, action, app: str = SAMPLE, path: str = "/healthz", clients: int = 4
) -> tuple[object, Stream]:
    """Run ``action()`` (a playbook run) while a stream of requests goes to ``app``; return both."""
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("run", action()))
    runner.start()
    seen = stream(f"http://{address}{path}", HOSTS[app], until=lambda: not runner.is_alive(), clients=clients)
    runner.join()
    return outcome["run"], seen


def playbook(name: str, *extra: str):
    """Run one of playbooks/ against the Molecule inventory."""
    command = ["ansible-playbook", str(PROJECT / "playbooks" / name), "-i"]
    command += [str(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent), *extra]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
