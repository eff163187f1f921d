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
    old = main_pid(host, live_unit(host))
    old_workers = host.check_output(f"ps --no-headers -o pid --ppid {old}").split()
    host.run_expect([0], f"kill -9 {old}")
    # Wait for the gap: the old master and its workers gone, the new one not
    # yet started (RestartSec=1). A request sent then must be held by
    # systemd's socket and answered by the restarted Gunicorn, not refused.
    alive = " ".join([str(old), *old_workers])
    deadline = time.monotonic() + 10
    while host.run(f"ps -p {alive.replace(' ', ',')} -o pid=").rc == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    in_gap = host.run("pgrep -u sample_app -f bin/gunicorn").rc != 0
    start = time.monotonic()
    first = http_get(f"http://{address}/healthz", timeout=30)
    took = time.monotonic() - start
    print(f"\n[drill] gunicorn master SIGKILL -> request sent in the gap ({in_gap}): {first.status} after {took:.2f} s")
    assert in_gap, "no moment without Gunicorn was observed"
    assert first.status == 200
    new = main_pid(host, live_unit(host))
    assert new not in (0, old)
    assert host.service(live_unit(host)).is_running


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
