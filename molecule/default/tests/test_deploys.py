"""Deploys no request notices: the health-gated slot switch, broken releases, rollback, maintenance.

Every deploy here runs under a bounded stream of requests through Nginx,
and every one of those requests must be answered 200. Latencies are
printed, not asserted: this machine is shared and noisy.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import (
    APPS,
    GUESTBOOK,
    HOSTS,
    PROJECT,
    SAMPLE,
    Stream,
    apps_with,
    deploy_record,
    http_get,
    live_release,
    live_slot,
    new_release_of,
    playbook,
    run_playbook,
    stream,
    under_stream,
)


def baseline(address: str, app: str = SAMPLE, seconds: float = 5.0) -> Stream:
    end = time.monotonic() + seconds
    return stream(f"http://{address}/healthz", HOSTS[app], until=lambda: time.monotonic() > end)


def rollback(*extra: str):
    return playbook("rollback.yml", *extra)


def one_line(run) -> str:
    return " ".join((run.stdout + run.stderr).split())


def test_a_slow_booting_release_goes_live_with_no_failed_request(host, address, tmp_path):
    old = live_release(host)
    old_slot = live_slot(host)
    newer = new_release_of(PROJECT / "app", tmp_path, "1.0.5")
    slow = {**APPS[SAMPLE]["environment"], "FLASK_START_DELAY": "3"}
    before = baseline(address)
    apps = apps_with(sample_app={"source": {"path": newer}, "environment": slow})
    run, during = under_stream(address, lambda: run_playbook(extra_vars={"flask_apps": apps}))
    print(f"\n[deploy] before: {before.latencies()}\n[deploy] during (app boots in 3 s): {during.latencies()}")
    assert run.returncode == 0, run.stdout[-3000:]
    new = live_release(host)
    assert new.startswith("1.0.5-")
    assert during.failed == []
    assert during.releases() == {old, new}
    assert during.old_after_new(new) == []
    # The other slot took over; the old one is stopped, and the record says so.
    assert live_slot(host) != old_slot
    assert not host.service(f"{SAMPLE}@{old_slot}.service").is_running
    last = deploy_record(host)[-1]
    assert (last["release"], last["result"], last["previous"]) == (new, "live", old)


def test_rollback_to_the_previous_release_and_forward_again_under_load(host, address):
    new = live_release(host)
    old = deploy_record(host)[-1]["previous"]
    releases = host.check_output("ls /opt/sample_app/releases").split()
    for target in (old, new):
        started = time.monotonic()
        run, during = under_stream(address, lambda: rollback("-e", f"app={SAMPLE}"))
        print(f"\n[rollback] to {target} in {time.monotonic() - started:.1f} s; {during.latencies()}")
        assert run.returncode == 0, run.stdout[-3000:]
        assert live_release(host) == target
        assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).json()["release"] == target
        assert during.failed == []
        assert during.old_after_new(target) == []
        # The release left stays; nothing new was installed.
        assert host.check_output("ls /opt/sample_app/releases").split() == releases
    assert deploy_record(host)[-1]["action"] == "rollback"


def test_a_code_only_deploy_skips_the_server_configuration(host, address, tmp_path):
    # Same settings as the last site.yml run (the slow-booting app's), new code.
    newer = new_release_of(PROJECT / "app", tmp_path, "1.0.6")
    slow = {**APPS[SAMPLE]["environment"], "FLASK_START_DELAY": "3"}
    apps = apps_with(sample_app={"source": {"path": newer}, "environment": slow})
    started = time.monotonic()
    run, during = under_stream(
        address, lambda: playbook("deploy.yml", "-e", json.dumps({"flask_apps": apps}), "-e", f"app={SAMPLE}")
    )
    print(f"\n[deploy.yml] code-only deploy in {time.monotonic() - started:.1f} s; {during.latencies()}")
    assert run.returncode == 0, run.stdout[-3000:]
    new = live_release(host)
    assert new.startswith("1.0.6-")
    assert during.failed == []
    assert during.old_after_new(new) == []
    # Neither the app's configuration, nor Gunicorn's, nor Nginx's was looked at; the other app was not built.
    for skipped in ("Write the Nginx configuration", "Write the Gunicorn configuration", "Write the environment file"):
        assert skipped not in run.stdout
    # Pruned by the deploy record: at most flask_app_keep_releases (3) remain.
    assert len(host.check_output("ls /opt/sample_app/releases").split()) <= 3
    built = run.stdout.split("TASK [Build each app's release on the controller]")[1].split("TASK")[0]
    assert "(item=sample_app)" in built
    assert "(item=guestbook)" not in built


def test_rollback_to_an_unknown_release_is_refused_with_the_list(host):
    live = live_release(host)
    run = rollback("-e", f"app={SAMPLE}", "-e", "release=0.0.1-000000000000")
    assert run.returncode != 0
    assert "release '0.0.1-000000000000' is not installed" in one_line(run)
    assert "available: " in one_line(run) and live in one_line(run)
    assert live_release(host) == live


def test_rollback_of_an_unknown_app_is_refused(host):
    run = rollback("-e", "app=nosuchapp")
    assert run.returncode != 0
    assert "rollback: app 'nosuchapp' is not one of flask_apps (sample_app, guestbook)" in one_line(run)


def test_a_dead_live_slot_is_noticed_and_replaced_by_the_next_run(host, address):
    # Back to the inventory's own release and settings (as the tests below
    # and the other suites expect); they differ from the last run's, so
    # deploy.yml takes site.yml's whole path.
    run = playbook("deploy.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Write the Nginx configuration" in run.stdout
    # What a crash loop ends in: systemd gave up on the live slot and its
    # socket (start limit hit), and Nginx answers 502.
    dead = live_slot(host)
    host.run_expect([0], f"systemctl stop {SAMPLE}@{dead}.socket {SAMPLE}@{dead}.service")
    assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).status == 502
    # Nothing else changed, yet the next deploy sees the live slot down and
    # switches to the other one.
    run = playbook("deploy.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert live_slot(host) != dead
    assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).json()["release"] == live_release(host)


def broken_copy(tmp_path: Path, version: str, module: str, old: str, new: str) -> str:
    """A new release of the sample app with one line of its code replaced."""
    project = new_release_of(PROJECT / "app", tmp_path, version)
    source = Path(project) / "src/sample_app" / module
    text = source.read_text()
    assert old in text
    source.write_text(text.replace(old, new, 1))
    return project


BROKEN = {
    # Fails to import: the load check stops it before any slot starts.
    "import": (
        "__init__.py",
        "import time\n",
        "import time\n\nraise RuntimeError('broken at import')\n",
        "does not load from release",
    ),
    # Imports, boots, and answers its health check 500.
    "unhealthy": (
        "views.py",
        '    return {\n        "status": "ok",',
        '    abort(500)\n    return {\n        "status": "ok",',
        "failed the check health on slot",
    ),
    # Boots under Gunicorn only (not in the load check), and never answers in time.
    "hangs": (
        "__init__.py",
        "import time\n",
        "import sys\nimport time\n\nif sys.argv[0].endswith('gunicorn'):\n    time.sleep(600)\n",
        "failed the check health on slot",
    ),
    # Healthy on its own socket, unhealthy through Nginx (it fails requests
    # that carry X-Forwarded-For): Nginx switches to it, then back.
    "unhealthy behind Nginx": (
        "views.py",
        '    return {\n        "status": "ok",',
        '    if request.headers.get("X-Forwarded-For"):\n        abort(500)\n    return {\n        "status": "ok",',
        "failed the check health through Nginx",
    ),
}


@pytest.fixture(scope="module")
def inventory_applied():
    """The inventory's settings applied (a no-op after the test above), so
    the broken releases below take deploy.yml's code-only path."""
    run = playbook("deploy.yml")
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.mark.parametrize("fault", BROKEN)
def test_a_broken_release_never_takes_traffic(host, address, tmp_path, inventory_applied, fault):
    module, old, new, message = BROKEN[fault]
    live = live_release(host)
    slot = live_slot(host)
    project = broken_copy(tmp_path, "1.0.9", module, old, new)
    # New code only (the inventory's settings, as the last run applied
    # them): deploy.yml's code-only path, the operator's everyday deploy.
    apps = json.dumps({"flask_apps": apps_with(sample_app={"source": {"path": project}})})
    # The stream asks for / where the broken release still answers its
    # health check through Nginx for a few seconds.
    path = "/" if fault == "unhealthy behind Nginx" else "/healthz"
    run, during = under_stream(address, lambda: playbook("deploy.yml", "-e", apps, "-e", f"app={SAMPLE}"), path=path)
    output = one_line(run)
    said = output[output.find("app 'sample_app'") :][:400]
    print(f"\n[broken: {fault}] {during.latencies()}\n[broken: {fault}] the play said: {said}")
    assert run.returncode != 0
    assert "Write the Nginx configuration" not in run.stdout
    assert "app 'sample_app'" in output and message in output
    assert "serving: " in output and live in output
    assert during.failed == []
    if path == "/healthz":
        assert during.releases() == {live}
    # Nginx, current and the record agree: the old slot serves, on the old release.
    assert (live_release(host), live_slot(host)) == (live, slot)
    assert host.file(f"/etc/nginx/live/{SAMPLE}.conf").contains(f"/run/{SAMPLE}/{slot}.sock")
    assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).json()["release"] == live
    if fault != "import":  # the load check stops it before any slot or record
        assert deploy_record(host)[-1]["result"] == "failed"
    # The failed slot is not left running.
    idle = {"blue": "green", "green": "blue"}[slot]
    assert not host.service(f"{SAMPLE}@{idle}.service").is_running


def test_maintenance_mode_answers_503_for_one_app_only(host, address):
    def maintenance(state: str):
        return playbook("maintenance.yml", "-e", f"app={SAMPLE}", "-e", f"state={state}")

    assert maintenance("on").returncode == 0
    try:
        down = http_get(f"http://{address}/", host=HOSTS[SAMPLE])
        assert down.status == 503
        assert down.headers["Retry-After"] == "300"
        assert b"Down for maintenance" in down.body
        # The kit's own checks still reach the app; static files still serve; the other app is untouched.
        assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).status == 200
        assert http_get(f"http://{address}/static/robots.txt", host=HOSTS[SAMPLE]).status == 200
        assert http_get(f"http://{address}/", host=HOSTS[GUESTBOOK]).status == 200
    finally:
        assert maintenance("off").returncode == 0
    assert http_get(f"http://{address}/", host=HOSTS[SAMPLE]).status == 200
    # Bad input is refused before anything changes.
    refused = maintenance("sideways")
    assert refused.returncode != 0
    assert "state 'sideways' (allowed: on, off)" in one_line(refused)
