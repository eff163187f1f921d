"""playbooks/tune.yml on a tiny grid (seconds per point): it measures on the
app's idle slot while the live slot serves on, untouched, and writes a
host_vars snippet that passes the gunicorn role's argument spec.
"""

import json
import textwrap

import pytest
import yaml
from conftest import (
    HOSTS,
    PROJECT,
    SAMPLE,
    deployed_state,
    http_get,
    live_release,
    live_slot,
    master_pid,
    playbook,
    run_playbook,
    under_stream,
    worker_pids,
)

# Two profiles, two worker counts, threads 2 for gthread: four points of
# two seconds, and the two fastest again. gevent is asked for too, and
# skipped: the sample app's live release (sync) has no gevent.
GRID = {
    "gunicorn_tune_profiles": ["sync", "gthread", "gevent"],
    "gunicorn_tune_workers": [2, 3],
    "gunicorn_tune_threads": [2],
    "gunicorn_tune_seconds": 2,
    "gunicorn_tune_connections": 16,
    "gunicorn_tune_finalists": 2,
    # The shared test machine is never idle: the refusal has its own test.
    "gunicorn_tune_max_load": 100,
}


def one_line(run) -> str:
    return " ".join((run.stdout + run.stderr).split())


def slot_units(host) -> str:
    """Checksums of the sample app's slot drop-ins (each slot's release), which deployed_state leaves out."""
    return host.check_output(f"sha256sum /etc/systemd/system/{SAMPLE}@*.service.d/*.conf")


@pytest.fixture(scope="module")
def tuned(host, address, tmp_path_factory):
    """One tuner run under a stream of requests to the live slot, with what was live before and after."""
    out = tmp_path_factory.mktemp("tune")
    live = {"slot": live_slot(host), "release": live_release(host), "state": deployed_state(host)}
    live["units"] = slot_units(host)
    live["master"] = master_pid(host)
    live["workers"] = worker_pids(host, live["master"])
    started = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    extra = json.dumps({**GRID, "app": SAMPLE, "path": "/", "tune_out_dir": str(out)})
    # One client, 10 requests a second: live traffic, but not so much that a
    # worker reaches max_requests (1000) and is recycled, as Gunicorn does.
    run, during = under_stream(address, lambda: playbook("tune.yml", "-e", extra), clients=1)
    print(f"\n[tune] live slot during the tuner: {during.latencies()}")
    return {"run": run, "during": during, "live": live, "out": out / "kit-molecule", "started": started}


def test_the_tuner_measures_every_point_of_its_grid(tuned):
    assert tuned["run"].returncode == 0, tuned["run"].stdout[-3000:]
    report = json.loads((tuned["out"] / f"{SAMPLE}.json").read_text())
    points = {(p["profile"], p["workers"], p["threads"]): p for p in report["tuned"]["points"]}
    assert set(points) == {("sync", 2, 1), ("sync", 3, 1), ("gthread", 2, 2), ("gthread", 3, 2)}
    for point in points.values():
        assert point["requests_per_second"] > 0 and point["errors"] == 0, point
    assert sum(p["runs"] for p in points.values()) == 4 + 2
    assert {
        "profile": "gevent",
        "why": "the live release has no gevent (deploy the app on the gevent profile once)",
    } in (report["tuned"]["skipped"])
    pick = report["tuned"]["pick"]
    assert pick["requests_per_second"] == max(p["requests_per_second"] for p in points.values())
    print(f"\n[tune] picked {pick['profile']} {pick['workers']}x{pick['threads']}: {pick['requests_per_second']} req/s")


def test_the_grid_ran_on_the_idle_slot_on_loopback(host, tuned):
    idle = {"blue": "green", "green": "blue"}[tuned["live"]["slot"]]
    journal = host.check_output(f"journalctl -u {SAMPLE}@{idle}.service --since '{tuned['started']}' --no-pager")
    assert "Listening at: http://127.0.0.1:8089" in journal
    assert "Using worker: gthread" in journal and "Using worker: sync" in journal
    # Stopped, and nothing of the tuner left in systemd's view of the slot.
    assert not host.service(f"{SAMPLE}@{idle}.service").is_running
    assert not host.socket("tcp://127.0.0.1:8089").is_listening
    assert host.run(f"ls -d /run/systemd/system/{SAMPLE}@{idle}.*").rc != 0
    assert "8089" not in host.check_output(f"systemctl cat {SAMPLE}@{idle}.socket")


def test_the_live_slot_serves_on_untouched(host, address, tuned):
    live, during = tuned["live"], tuned["during"]
    assert during.failed == []
    assert during.releases() == {live["release"]}
    assert live_slot(host) == live["slot"]
    assert master_pid(host) == live["master"]
    assert worker_pids(host, live["master"]) == live["workers"]
    assert deployed_state(host) == live["state"]
    assert slot_units(host) == live["units"]
    assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).json()["release"] == live["release"]


def validate_snippet(tmp_path, snippet):
    """The gunicorn role's own checks (argument spec, ranges) on the snippet's settings for the app."""
    check = tmp_path / "check.yml"
    check.write_text(
        textwrap.dedent(f"""\
            - name: Check a tuner snippet
              hosts: localhost
              gather_facts: false
              tasks:
                - name: Check the settings by the gunicorn role's spec
                  ansible.builtin.include_role:
                    name: gunicorn
                    tasks_from: validate
                  vars:
                    gunicorn_name: {SAMPLE}
                    gunicorn_wsgi_app: "sample_app:create_app()"
                    gunicorn_options: "{{{{ gunicorn_by_app['{SAMPLE}'] }}}}"
            """)
    )
    return run_playbook("-e", f"@{snippet}", roles_path=str(PROJECT / "roles"), book=str(check))


def test_the_snippet_passes_the_roles_argument_spec(tuned, tmp_path):
    snippet = tuned["out"] / f"{SAMPLE}.yml"
    settings = yaml.safe_load(snippet.read_text())["gunicorn_by_app"][SAMPLE]
    assert set(settings) == {"profile", "workers", "threads"}
    run = validate_snippet(tmp_path, snippet)
    assert run.returncode == 0, one_line(run)[-2000:]
    # The same check refuses a snippet out of range: it can fail.
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump({"gunicorn_by_app": {SAMPLE: {**settings, "workers": 0}}}))
    refused = validate_snippet(tmp_path, bad)
    assert refused.returncode != 0
    assert "workers is 0; allowed: an integer from 1 to 1024" in one_line(refused)


def test_what_an_interrupted_run_left_is_cleared_by_the_next(host, tuned):
    # A run killed mid-grid: the idle slot on loopback TCP, running the live release.
    live = live_slot(host)
    idle = {"blue": "green", "green": "blue"}[live]
    left = f"/run/systemd/system/{SAMPLE}@{idle}"
    # As the tuner writes them: the socket on TCP; the live release's command
    # replacing (ExecStart= first) the one the idle slot's own release names.
    simulated = host.run(
        f"mkdir -p {left}.socket.d {left}.service.d"
        f" && printf '[Socket]\\nListenStream=\\nListenStream=127.0.0.1:8089\\n' > {left}.socket.d/tune.conf"
        f" && {{ printf '[Service]\\nExecStart=\\n'; cat /etc/systemd/system/{SAMPLE}@{live}.service.d/release.conf; }}"
        f" > {left}.service.d/tune.conf"
        f" && systemctl daemon-reload && systemctl start {SAMPLE}@{idle}.socket {SAMPLE}@{idle}.service"
    )
    assert simulated.rc == 0, simulated.stderr
    assert host.socket("tcp://127.0.0.1:8089").is_listening
    master = master_pid(host)
    one_point = {**GRID, "gunicorn_tune_profiles": ["sync"], "gunicorn_tune_workers": [2], "gunicorn_tune_finalists": 0}
    run = playbook(
        "tune.yml", "-e", json.dumps({**one_point, "app": SAMPLE, "path": "/", "tune_out_dir": "/tmp/kit-tune"})
    )
    assert run.returncode == 0, one_line(run)[-2000:]
    # Cleared at the start (the leftover), and at the end as always.
    assert run.stdout.count(f"Read whether it is live or running, slot {SAMPLE}@{idle}") == 2
    assert host.run(f"ls -d /run/systemd/system/{SAMPLE}@*").rc != 0
    assert not host.socket("tcp://127.0.0.1:8089").is_listening
    assert not host.service(f"{SAMPLE}@{idle}.service").is_running
    assert master_pid(host) == master


def test_a_busy_host_is_refused_before_anything_changes(host, tuned):
    before = deployed_state(host)
    extra = json.dumps({**GRID, "app": SAMPLE, "path": "/", "gunicorn_tune_max_load": 0})
    run = playbook("tune.yml", "-e", extra)
    assert run.returncode != 0
    assert "tune: kit-molecule is busy: its 1-minute load average is" in one_line(run)
    assert "Measure with wrk" not in run.stdout
    assert deployed_state(host) == before


def test_a_bad_app_or_setting_is_refused(tuned):
    run = playbook("tune.yml", "-e", json.dumps({"app": "nosuch", "path": "/"}))
    assert run.returncode != 0
    assert "tune: app 'nosuch' (one of sample_app, guestbook) or path '/'" in one_line(run)
    run = playbook("tune.yml", "-e", json.dumps({**GRID, "app": SAMPLE, "path": "/", "gunicorn_tune_seconds": 0}))
    assert run.returncode != 0
    assert "tune: instance sample_app: gunicorn_tune_seconds is 0; allowed: from 1 to 300" in one_line(run)
