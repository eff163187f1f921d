"""Faults that production delivers, and what the stack does about them.

Recovery times are printed, not asserted: this machine is shared and noisy.
The deadlines only say "it came back at all".
"""

import shutil
import time

from conftest import (
    PROJECT,
    SAMPLE,
    app_cpus,
    deployed_state,
    http_get,
    live_unit,
    run_playbook,
    wait_for_200,
    worker_pids,
)


def main_pid(host, unit):
    return int(host.check_output(f"systemctl show -P MainPID {unit}"))


def test_killed_gunicorn_master_is_restarted_by_systemd(host, address):
    unit = live_unit(host)
    old = main_pid(host, unit)
    # The master killed, and with it the slot's workers at once (as the OOM
    # killer of its cgroup would; systemd stops orphaned workers anyway when
    # the master dies). systemd restarts the slot after RestartSec=1: a
    # request sent in that gap must be held by the slot's socket and
    # answered by the new Gunicorn, not refused. The gap is read from
    # systemd, not guessed from the process table.
    host.run_expect([0], f"systemctl kill --signal=SIGKILL {unit}")
    deadline = time.monotonic() + 5
    while True:
        shown = dict(
            line.split("=", 1) for line in host.check_output(f"systemctl show -p SubState -p MainPID {unit}").split()
        )
        state, pid = shown["SubState"], shown["MainPID"]
        if state != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    in_gap = state != "running" and pid == "0"
    start = time.monotonic()
    first = http_get(f"http://{address}/healthz", timeout=30)
    took = time.monotonic() - start
    print(f"\n[drill] gunicorn SIGKILL -> request sent in the gap ({state}): {first.status} after {took:.2f} s")
    assert in_gap, f"no moment without Gunicorn was observed ({unit}: {state}, main pid {pid})"
    assert first.status == 200
    new = main_pid(host, unit)
    assert new not in (0, old)
    assert host.service(unit).is_running


def test_killed_workers_are_replaced_by_the_master(host, facts):
    master = main_pid(host, live_unit(host))
    before = worker_pids(host, master)
    victims = sorted(before)[:2]
    host.run_expect([0], "kill -9 " + " ".join(victims))
    expected = int(2 * app_cpus(facts, SAMPLE)) + 1
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        after = worker_pids(host, master)
        if len(after) == expected and not after & set(victims):
            break
        time.sleep(0.2)
    assert main_pid(host, live_unit(host)) == master
    assert len(after) == expected
    assert not after & set(victims)


def test_killed_nginx_is_restarted_by_systemd(host, address):
    old = main_pid(host, "nginx.service")
    host.run_expect([0], f"kill -9 {old}")
    seconds = wait_for_200(f"http://{address}/")
    print(f"\n[drill] nginx master SIGKILL -> first 200 after {seconds:.2f} s")
    assert main_pid(host, "nginx.service") not in (0, old)


def test_broken_nginx_template_fails_the_play_and_keeps_serving(host, address, tmp_path):
    # A fork's template edit that renders a configuration Nginx rejects.
    roles = tmp_path / "roles"
    shutil.copytree(PROJECT / "roles", roles)
    template = roles / "nginx/templates/etc/nginx/nginx.conf.j2"
    template.write_text(
        template.read_text().replace("server_tokens off;", "server_tokens off;\n    proxy_buffering maybe;")
    )
    before = deployed_state(host)
    run = run_playbook(roles_path=str(roles))
    assert run.returncode != 0
    assert "nginx" in run.stdout and "failed=1" in run.stdout
    assert deployed_state(host) == before
    assert http_get(f"http://{address}/healthz").status == 200
