"""The host's firewall (the firewall role, nftables): what may reach it from elsewhere.

Three listeners on the host's every address, on ports the scenario's
inventory gives: one admitted from the controller, one admitted from a
documentation address only, one with no rule. From the controller only the
first answers (the others are dropped: the connection times out); on the
host's own loopback all three answer. Nginx answers from anywhere, and SSH
is admitted (the fleet scenario reaches its hosts over it, through this
firewall).
"""

from __future__ import annotations

import re
import socket
import time

import pytest
from conftest import playbook, recap_changed

ADMITTED, ELSEWHERE, NO_RULE = 8766, 8767, 8768


def connect(address: str, port: int, timeout: float = 3.0) -> str:
    """'open', 'refused' or 'dropped' (no answer within ``timeout``), from the controller."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "dropped"


@pytest.fixture(scope="module")
def listeners(host):
    """A bounded HTTP listener on each port, on every address of the host."""
    for port in (ADMITTED, ELSEWHERE, NO_RULE):
        host.run_expect(
            [0],
            f"systemctl stop kit-listen-{port} 2>/dev/null;"
            f" systemd-run --unit kit-listen-{port} --collect --property RuntimeMaxSec=120"
            f" python3 -m http.server {port} --bind 0.0.0.0 --directory /srv",
        )
    end = time.monotonic() + 20
    while not all(host.socket(f"tcp://0.0.0.0:{p}").is_listening for p in (ADMITTED, ELSEWHERE, NO_RULE)):
        assert time.monotonic() < end, "the test's listeners did not start"
        time.sleep(0.2)
    yield
    host.run(f"systemctl stop kit-listen-{ADMITTED} kit-listen-{ELSEWHERE} kit-listen-{NO_RULE}")


def refused_packets(host) -> int:
    chain = host.check_output("nft list chain inet flask_kit input")
    return int(re.search(r'counter packets (\d+) bytes \d+ comment "refused"', chain).group(1))


def test_the_ruleset_drops_what_it_does_not_admit_and_is_loaded_at_boot(host):
    assert "policy drop" in host.check_output("nft list chain inet flask_kit input")
    assert host.service("flask-kit-firewall").is_enabled
    assert host.service("flask-kit-firewall").is_running


def test_from_the_controller_only_the_admitted_ports_answer(host, address, facts, listeners):
    # The rule names the controller by the bridge's gateway: that is the
    # address the host sees the tests' connections come from.
    with socket.create_connection((address, 80), timeout=3) as nginx:
        assert nginx.getsockname()[0] == facts["ansible_default_ipv4"]["gateway"]
    # SSH is admitted: refused (this host has no sshd), never dropped.
    assert connect(address, 22) in ("open", "refused")
    before = refused_packets(host)
    assert connect(address, ADMITTED) == "open"
    assert connect(address, ELSEWHERE) == "dropped"
    assert connect(address, NO_RULE) == "dropped"
    # Dropped by the kit's table (its last rule counts what it refuses).
    assert refused_packets(host) > before


def test_on_the_hosts_loopback_every_port_answers(host, listeners):
    for port in (ADMITTED, ELSEWHERE, NO_RULE):
        probe = f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=3)'"
        assert host.run(probe).rc == 0, port


def test_a_table_removed_by_hand_is_loaded_again_by_the_next_run(host, address, listeners):
    host.run_expect([0], "nft delete table inet flask_kit")
    assert connect(address, NO_RULE) == "open"
    run = playbook("firewall.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert recap_changed(run.stdout) == 1, run.stdout[-3000:]
    assert connect(address, NO_RULE) == "dropped"
    assert connect(address, ADMITTED) == "open"
