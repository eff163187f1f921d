"""The fleet as its users see it: the balancer's address, the app hosts, and the operator who runs the kit."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra
import yaml
from kit_operator import CHECKOUT, HOME, OPERATOR, operator_account, remove_operator_account

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
SCENARIO = PROJECT / "molecule/fleet"

INVENTORY = SCENARIO / "inventory"
WEB_VARS = yaml.safe_load((INVENTORY / "group_vars/web.yml").read_text())
APP = WEB_VARS["flask_apps"][0]
SERVER_NAME = APP["server_names"][0]
# Each host's address, as the scenario's inventory names it.
ADDRESSES = {
    path.stem: yaml.safe_load(path.read_text())["ansible_host"] for path in sorted(INVENTORY.glob("host_vars/*.yml"))
}
BALANCER = ADDRESSES["kit-lb"]
WEB_HOSTS = sorted(name for name in ADDRESSES if name.startswith("kit-web"))
# Where the operator keeps the scenario's SSH key and known hosts.
OPERATOR_SSH = HOME / "fleet-ssh"
OPERATOR_INVENTORY = "inventories/fleet"


def host(name: str):
    """A fleet host, inspected as root through Docker (the kit itself reaches it over SSH only)."""
    return testinfra.get_host(f"docker://{name}")


def get(path: str, timeout: float = 10.0, address: str = BALANCER) -> tuple[int, bytes]:
    """GET ``path`` from the controller through ``address`` (the balancer), by the app's name."""
    request = urllib.request.Request(f"http://{address}{path}", headers={"Host": SERVER_NAME})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def health() -> dict:
    """What /healthz answers through the balancer: release and host."""
    status, body = get("/healthz")
    assert status == 200, (status, body[:200])
    return json.loads(body)


@dataclass
class Stream:
    """A bounded stream of GETs through the balancer from a few threads, counting failures.

    About 5 requests a second per thread: under the balancer's per-client
    limit (lb.yml of the scenario's inventory), so a 429 is a failure too.
    """

    threads: int = 4
    limit_seconds: float = 300.0
    sent: int = 0
    failed: list = field(default_factory=list)
    releases: dict = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run(self) -> None:
        deadline = time.monotonic() + self.limit_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                status, body = get("/healthz", timeout=30)
                release = json.loads(body).get("release") if status == 200 else None
            except (OSError, ValueError) as error:
                status, release = repr(error), None
            with self._lock:
                self.sent += 1
                if status != 200:
                    self.failed.append(status)
                else:
                    self.releases[release] = self.releases.get(release, 0) + 1
            time.sleep(0.2)

    def __enter__(self) -> Stream:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)


@pytest.fixture(scope="session")
def operator():
    """The operator's account, with the fleet's inventory, key and known hosts; removed afterwards."""
    if os.geteuid() != 0:
        pytest.fail("creating the operator's account on the controller needs root (CI runs as root)")
    operator_account()
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    OPERATOR_SSH.mkdir(mode=0o700)
    for name in ("id_ed25519", "known_hosts"):
        shutil.copy(ephemeral / name, OPERATOR_SSH / name)
    inventory = CHECKOUT / OPERATOR_INVENTORY
    shutil.copytree(INVENTORY, inventory)
    # The groups of molecule.yml's platforms, as Molecule's own inventory has them.
    groups: dict[str, dict] = {}
    for platform in yaml.safe_load((SCENARIO / "molecule.yml").read_text())["platforms"]:
        for group in platform["groups"]:
            groups.setdefault(group, {"hosts": {}})["hosts"][platform["name"]] = None
    (inventory / "hosts.yml").write_text(yaml.safe_dump(groups))
    subprocess.run(["chown", "-R", f"{OPERATOR}:", str(HOME)], check=True)
    yield {"KIT_FLEET_SSH_DIR": str(OPERATOR_SSH)}
    remove_operator_account()
