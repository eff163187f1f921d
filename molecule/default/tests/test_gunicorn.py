"""Gunicorn's size, socket, sandbox and graceful behaviour, as a user sees them."""

import re
import threading
import time

import pytest
from conftest import (
    APPS,
    PROJECT,
    SAMPLE,
    app_cpus,
    apps_with,
    http_get,
    live_release,
    master_pid,
    new_release_of,
    run_playbook,
    steady_load,
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
    assert host.check_output(f"systemctl show -P CPUWeight {app}.service") == str(weight)
    assert int(host.check_output(f"systemctl show -P MemoryMax {app}.service")) > 0


def test_workers_run_as_the_app_user(host, gunicorn_master):
    users = set(host.check_output(f"ps --no-headers -o user:32 --ppid {gunicorn_master}").split())
    assert users == {"sample_app"}


def test_socket_belongs_to_nginx_group_only(host):
    sock = host.file("/run/sample_app/gunicorn.sock")
    assert sock.is_socket
    assert (sock.user, sock.group, sock.mode) == ("root", "www-data", 0o660)


def test_other_users_cannot_connect_to_the_socket(host):
    connect = "import socket; socket.socket(socket.AF_UNIX).connect('/run/sample_app/gunicorn.sock')"
    assert host.run(f'runuser -u www-data -- python3 -c "{connect}"').rc == 0
    refused = host.run(f'runuser -u nobody -- python3 -c "{connect}"')
    assert refused.rc != 0
    assert "PermissionError" in refused.stderr


def test_runtime_files_are_in_the_runtime_directory(host, gunicorn_master):
    assert host.file("/run/sample_app/gunicorn/gunicorn.pid").content_string.strip() == str(gunicorn_master)
    control = host.file("/run/sample_app/gunicorn/gunicorn.ctl")
    assert control.is_socket
    assert (control.user, control.mode) == ("sample_app", 0o600)


@pytest.mark.parametrize("app", APPS)
def test_sandbox_exposure_is_at_most_one_and_a_half(host, app):
    report = host.check_output(f"systemd-analyze security --no-pager {app}.service")
    score = float(re.search(rf"Overall exposure level for {app}.service: ([\d.]+)", report).group(1))
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
    assert "rw" in mounts["/run/sample_app/gunicorn"]
    assert "rw" in mounts["/var/lib/sample_app"]


def test_reload_under_steady_requests_loses_none(host, address, gunicorn_master):
    before = worker_pids(host, gunicorn_master)
    done = threading.Event()
    reloader = threading.Timer(0.5, lambda: (host.run("systemctl reload sample_app.service"), done.set()))
    reloader.start()
    load = steady_load(f"http://{address}/healthz", until=lambda: False, max_requests=500, max_seconds=60)
    reloader.join()
    print(f"\n[gunicorn] reload under load: {load.ok} ok, {len(load.failed)} failed")
    assert done.is_set()
    assert load.failed == []
    assert load.ok == 500
    # The reload really replaced the workers, under the same master.
    time.sleep(1)
    assert master_pid(host) == gunicorn_master
    assert worker_pids(host, gunicorn_master).isdisjoint(before)


def test_deploy_of_a_new_release_under_steady_requests_loses_none(host, address, tmp_path):
    live = live_release(host)
    newer = new_release_of(PROJECT / "app", tmp_path, "1.0.1")
    deploy = {}

    def ship() -> None:
        deploy["run"] = run_playbook(extra_vars={"flask_apps": apps_with(sample_app={"source": {"path": newer}})})

    runner = threading.Thread(target=ship)
    runner.start()
    load = steady_load(f"http://{address}/healthz", until=lambda: not runner.is_alive())
    runner.join()
    print(f"\n[gunicorn] deploy under load: {load.ok} ok, {len(load.failed)} failed")
    assert deploy["run"].returncode == 0, deploy["run"].stdout[-2000:]
    served = http_get(f"http://{address}/healthz").json()["release"]
    assert served.startswith("1.0.1-")
    assert served == live_release(host)
    assert load.failed == []
    assert load.ok > 0
    # Back to the release the other tests expect.
    assert run_playbook().returncode == 0
    assert live_release(host) == live
