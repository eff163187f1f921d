"""Each Gunicorn profile shows its size in the process table.

The inventory runs the guestbook on gthread and the sample app on sync; the
module converges the sample app with gevent, then returns it to sync, so
the other suites see the host as Molecule left it. An app's CPUs are its
cpu_weight share of the host's.
"""

import math
import threading

import pytest
from conftest import GUESTBOOK, HOSTS, SAMPLE, app_cpus, apps_with, http_get, live_unit, run_playbook, settled_workers


@pytest.fixture(scope="module")
def converge_profile():
    """Converge with the sample app on a profile, or on the inventory's (None)."""
    last = {}

    def converge(profile):
        extra = {"flask_apps": apps_with(sample_app={"gunicorn": {"profile": profile}})} if profile else None
        last["profile"] = profile
        run = run_playbook(extra_vars=extra)
        assert run.returncode == 0, run.stdout[-3000:]

    yield converge
    if last.get("profile"):
        assert run_playbook().returncode == 0


def test_gthread_runs_cpus_plus_one_workers_of_four_threads(host, address, facts):
    expected = math.ceil(app_cpus(facts, GUESTBOOK)) + 1
    pids = settled_workers(host, expected, app=GUESTBOOK)
    assert len(pids) == expected
    # Threads start on demand: keep every thread of every worker busy, then count.
    busy = [
        threading.Thread(
            target=http_get, args=(f"http://{address}/wait/3000",), kwargs={"timeout": 30, "host": HOSTS[GUESTBOOK]}
        )
        for _ in range(expected * 4 * 2)
    ]
    for request in busy:
        request.start()
    threads = []
    for _ in range(20):
        threads = [int(host.check_output(f"ps --no-headers -o nlwp -p {pid}")) for pid in pids]
        if max(threads) >= 5:
            break
    for request in busy:
        request.join()
    print(f"\n[gthread] {len(pids)} workers, threads per worker under load: {threads}")
    # One main thread and at most four request threads per worker.
    assert max(threads) == 4 + 1


def test_gevent_runs_one_worker_per_cpu_with_gevent_installed(host, facts, converge_profile):
    converge_profile("gevent")
    expected = max(2, math.ceil(app_cpus(facts, SAMPLE)))
    assert len(settled_workers(host, expected)) == expected
    venv = "/opt/sample_app/current/venv/bin/python"
    assert host.run(f"{venv} -c 'import gevent'").rc == 0
    assert 'worker_class = "gevent"' in host.file("/etc/gunicorn/sample_app.conf.py").content_string
    unit = live_unit(host)
    since = host.check_output(f"systemctl show -P ActiveEnterTimestamp {unit}")
    journal = host.check_output(f"journalctl -u {unit} --since '{since}' --no-pager")
    assert "Using worker: gevent" in journal


def test_sync_profile_has_no_gevent(host, converge_profile):
    converge_profile(None)
    assert host.run("/opt/sample_app/current/venv/bin/python -c 'import gevent'").rc != 0
