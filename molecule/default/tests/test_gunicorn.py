"""Gunicorn's size, socket, sandbox and graceful behaviour, as a user sees them."""

import re
import threading
import time

import pytest
from conftest import (
    APPS,
    HOSTS,
    SAMPLE,
    app_cpus,
    live_slot,
    live_socket,
    live_unit,
    master_pid,
    stream,
    worker_pids,
)


def test_worker_count_is_twice_the_apps_cpus_plus_one(host, facts, gunicorn_master):
    # The sync profile: 2 x CPUs + 1, the CPUs being the app's cpu_weight
    # share of the host's (never below one), under the cap of 32.
    expected = min(int(2 * app_cpus(facts, SAMPLE)) + 1, 32)
    assert len(worker_pids(host, gunicorn_master)) == expected


@pytest.mark.parametrize("app", APPS)
def test_cpu_weight_reaches_systemd(host, app):
    weight = APPS[app].get("gunicorn", {}).get("cpu_weight", 100)
    assert host.check_output(f"systemctl show -P CPUWeight {live_unit(host, app)}") == str(weight)
    assert int(host.check_output(f"systemctl show -P MemoryMax {live_unit(host, app)}")) > 0


def test_workers_run_as_the_app_user(host, gunicorn_master):
    users = set(host.check_output(f"ps --no-headers -o user:32 --ppid {gunicorn_master}").split())
    assert users == {"sample_app"}


def test_socket_belongs_to_nginx_group_only(host):
    sock = host.file(live_socket(host))
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)


def test_other_users_cannot_connect_to_the_socket(host):
    connect = f"import socket; socket.socket(socket.AF_UNIX).connect('{live_socket(host)}')"
    assert host.run(f'runuser -u www-data -- python3 -c "{connect}"').rc == 0
    refused = host.run(f'runuser -u nobody -- python3 -c "{connect}"')
    assert refused.rc != 0
    assert "PermissionError" in refused.stderr


def test_runtime_files_are_in_the_runtime_directory(host, gunicorn_master):
    runtime = f"/run/sample_app/{live_slot(host)}"
    assert host.file(f"{runtime}/gunicorn.pid").content_string.strip() == str(gunicorn_master)
    control = host.file(f"{runtime}/gunicorn.ctl")
    assert control.is_socket
    assert (control.user, control.mode) == ("sample_app", 0o600)


@pytest.mark.parametrize("app", APPS)
def test_sandbox_exposure_is_at_most_one_and_a_half(host, app):
    unit = live_unit(host, app)
    report = host.check_output(f"systemd-analyze security --no-pager {unit}")
    score = float(re.search(rf"Overall exposure level for {unit}: ([\d.]+)", report).group(1))
    print(f"\n[gunicorn] {app}: systemd-analyze security exposure {score}")
    assert score <= 1.5


def test_workers_see_the_system_read_only_but_their_runtime_directory_writable(host, gunicorn_master):
    # ProtectSystem=strict as the running worker has it: its own mount table.
    worker = sorted(worker_pids(host, gunicorn_master))[0]
    mounts = {}
    for line in host.check_output(f"cat /proc/{worker}/mountinfo").splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[5].split(",")
    assert "ro" in mounts["/"]
    assert "rw" in mounts[f"/run/sample_app/{live_slot(host)}"]
    assert "rw" in mounts["/var/lib/sample_app"]


def test_reload_under_steady_requests_loses_none(host, address, gunicorn_master):
    before = worker_pids(host, gunicorn_master)
    done = threading.Event()
    reloader = threading.Timer(0.5, lambda: (host.run(f"systemctl reload {live_unit(host)}"), done.set()))
    reloader.start()
    load = stream(f"http://{address}/healthz", HOSTS[SAMPLE], until=lambda: False, max_requests=500, max_seconds=60)
    reloader.join()
    print(f"\n[gunicorn] reload under load: {load.latencies()}, {len(load.failed)} failed")
    assert done.is_set()
    assert load.failed == []
    assert len(load.answers) == 500
    # The reload really replaced the workers, under the same master.
    time.sleep(1)
    assert master_pid(host) == gunicorn_master
    assert worker_pids(host, gunicorn_master).isdisjoint(before)
