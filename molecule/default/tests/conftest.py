"""Fixtures shared by the testinfra suites: how to reach the deployed stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPMessage
from pathlib import Path

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))


@dataclass
class Response:
    """What a client got back: status, headers and body."""

    status: int
    headers: HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def http_get(url: str, timeout: float = 5.0) -> Response:
    """GET ``url`` from the controller, returning error statuses as well."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
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


@pytest.fixture
def gunicorn_master(host) -> int:
    pid = int(host.check_output("systemctl show -P MainPID gunicorn.service"))
    assert pid > 0, "gunicorn.service has no main process"
    return pid


# Files and links whose content is the deployed state: a rejected run must
# leave every one of them as it was.
DEPLOYED_STATE = [
    "/etc/nginx/nginx.conf",
    "/etc/gunicorn/gunicorn.conf.py",
    "/etc/systemd/system/gunicorn.service",
    "/etc/systemd/system/gunicorn.socket",
    "/etc/sample_app/app.env",
]


def deployed_state(host) -> str:
    """Checksums of the deployed files, the live release and the release list."""
    return host.check_output(
        "sha256sum %s; readlink /opt/sample_app/current; ls /opt/sample_app/releases", " ".join(DEPLOYED_STATE)
    )


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


def settled_workers(host, expected: int, deadline: float = 30.0) -> list[str]:
    """Worker pids of the Gunicorn master once their count is ``expected`` (or the deadline passed)."""
    end = time.monotonic() + deadline
    while True:
        master = int(host.check_output("systemctl show -P MainPID gunicorn.service"))
        pids = host.check_output(f"ps --no-headers -o pid --ppid {master}").split()
        if len(pids) == expected or time.monotonic() > end:
            return pids
        time.sleep(0.2)
