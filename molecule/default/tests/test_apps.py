"""Two apps on one host, each from the inventory: its own Host names, state,
config files, hooks, static files and services, and neither disturbs the other.

The guestbook (molecule/default/fixtures/guestbook) is a different package
with a SQLite database in its state directory, a settings file whose path
comes from the environment, an instance config.py, migration hooks, static
files in assets/, and a dependency published only as a source distribution.
"""

import html
import re
import subprocess
import time
import uuid

import pytest
from conftest import (
    APPS,
    GUESTBOOK,
    HOSTS,
    PROJECT,
    SAMPLE,
    apps_with,
    http_get,
    live_release,
    master_pid,
    new_release_of,
    run_playbook,
    under_stream,
    worker_pids,
)

# The Molecule instance (molecule.yml's platform name).
CONTAINER = "kit-molecule"


def post_message(address: str, message: str) -> int:
    body = f"message={message}".encode()
    return http_get(f"http://{address}/", host=HOSTS[GUESTBOOK], data=body).status


def entries(address: str) -> list[str]:
    return [e["message"] for e in http_get(f"http://{address}/entries", host=HOSTS[GUESTBOOK]).json()["entries"]]


@pytest.fixture(scope="module")
def back_to_the_inventory():
    """One converge back to the inventory after the tests that leave other settings or releases (not one each)."""
    yield
    assert run_playbook().returncode == 0


@pytest.mark.parametrize("app", APPS)
def test_each_app_answers_by_its_own_host_name(host, address, app):
    body = http_get(f"http://{address}/healthz", host=HOSTS[app]).json()
    assert body["status"] == "ok"
    assert body["release"] == live_release(host, app)
    assert (body.get("app") == GUESTBOOK) == (app == GUESTBOOK)


def test_guestbook_reads_its_settings_file_and_instance_config(address):
    page = http_get(f"http://{address}/", host=HOSTS[GUESTBOOK])
    assert page.status == 200
    # The app starts only with GUESTBOOK_SETTINGS (the settings file) set; its
    # GREETING is then overridden by instance/config.py, read after it.
    text = html.unescape(page.body.decode())
    assert "Hello from the instance config" in text
    assert "Hello from the settings file" not in text


def test_guestbook_migrations_ran_as_hooks(host, address):
    assert http_get(f"http://{address}/healthz", host=HOSTS[GUESTBOOK]).json()["schema"] == 2
    database = host.file("/var/lib/guestbook/instance/guestbook.sqlite")
    assert (database.user, database.group) == ("guestbook", "guestbook")


def test_guestbook_static_files_come_from_its_assets(host, address):
    response = http_get(f"http://{address}/static/guestbook.css", host=HOSTS[GUESTBOOK])
    assert response.status == 200
    assert response.body == host.file("/opt/guestbook/current/static/guestbook.css").content
    # The sample app's static files are its own.
    assert http_get(f"http://{address}/static/robots.txt", host=HOSTS[SAMPLE]).status == 200
    assert http_get(f"http://{address}/static/guestbook.css", host=HOSTS[SAMPLE]).status == 404


def test_the_source_only_dependency_was_built_into_the_release(host):
    wheels = host.check_output("ls /opt/guestbook/current/wheels")
    assert re.search(r"^tinyslug-0\.1\.0-py3-none-any\.whl$", wheels, re.MULTILINE)


def test_a_form_post_writes_to_the_state_directory(address):
    message = f"hello {uuid.uuid4().hex[:8]}"
    assert post_message(address, message) in (200, 303)
    assert message in entries(address)


@pytest.mark.parametrize("app", APPS)
def test_app_user_writes_its_state_and_not_its_code(host, app):
    probe = f"/var/lib/{app}/write-probe"
    assert host.run(f"runuser -u {app} -- touch {probe}").rc == 0
    host.run(f"rm -f {probe}")
    for code in (f"/opt/{app}/current", f"/opt/{app}/current/venv/lib"):
        denied = host.run(f"runuser -u {app} -- touch {code}/intruder")
        assert denied.rc != 0
        assert "Permission denied" in denied.stderr


@pytest.mark.parametrize(("owner", "other"), [(SAMPLE, GUESTBOOK), (GUESTBOOK, SAMPLE)])
def test_other_apps_cannot_read_an_apps_state_or_config(host, owner, other):
    for path in (f"/var/lib/{owner}/instance", f"/etc/{owner}/app.env"):
        refused = host.run(f"runuser -u {other} -- cat {path}")
        assert refused.rc != 0, path
        assert "Permission denied" in refused.stderr, path
    assert host.run(f"runuser -u {other} -- ls /var/lib/{owner}").rc != 0


def test_secret_keys_stay_out_of_the_journal_and_the_process_table(host):
    journal = host.check_output("journalctl --no-pager -o cat")
    processes = host.check_output("ps -eo args")
    for app in APPS.values():
        assert app["secret_key"] not in journal, app["name"]
        assert app["secret_key"] not in processes, app["name"]


def test_a_failing_hook_stops_that_app_and_the_restart_it_made_due_happens_next_run(
    host, address, tmp_path, back_to_the_inventory
):
    before = {app: live_release(host, app) for app in APPS}
    sample_master = master_pid(host)
    sample_workers = worker_pids(host, sample_master)
    # New settings (guestbook's instance config) and a new release whose
    # migration fails: the failing hook first, the ones after it must not run.
    greeting = {"guestbook_greeting": "Greetings after a failed run"}
    newer = new_release_of(PROJECT / "molecule/default/fixtures/guestbook", tmp_path, "2.0.1")
    after = "/var/lib/guestbook/ran-after-the-failed-hook"
    hooks = {"before_switch": ["echo migration broke >&2; exit 3", f"touch {after}"]}
    apps = apps_with(guestbook={"source": {"path": newer}, "hooks": hooks})
    run, during = under_stream(
        address, lambda: run_playbook(extra_vars={**greeting, "flask_apps": apps}), app=GUESTBOOK
    )
    output = " ".join((run.stdout + run.stderr).split())
    print(f"\n[hook fails] {during.latencies()}")
    assert during.failed == []
    assert during.releases() == {before[GUESTBOOK]}
    assert run.returncode != 0
    assert "app 'guestbook': before_switch hook 'echo migration broke >&2; exit 3' failed" in output
    assert "(exit 3): migration broke" in output
    assert not host.file(after).exists
    for app in APPS:
        assert live_release(host, app) == before[app]
        assert http_get(f"http://{address}/healthz", host=HOSTS[app]).json()["release"] == before[app]
    # The config file the run changed is back as the live release had it
    # (a worker Gunicorn recycles reads it), with no backup left beside
    # it; a note says a restart is due.
    config = host.file("/var/lib/guestbook/instance/config.py")
    assert "Greetings after a failed run" not in config.content_string
    assert config.user == "root" and config.group == GUESTBOOK and config.mode == 0o640
    assert host.run("ls /var/lib/guestbook/instance/ | grep '~$'").stdout == ""
    assert host.file("/opt/guestbook/.restart-pending").exists
    # The next run writes the config file again and restarts that app,
    # and that app only.
    master = master_pid(host, GUESTBOOK)
    run = run_playbook(extra_vars=greeting)
    assert run.returncode == 0, run.stdout[-3000:]
    assert master_pid(host, GUESTBOOK) != master
    page = html.unescape(http_get(f"http://{address}/", host=HOSTS[GUESTBOOK]).body.decode())
    assert "Greetings after a failed run" in page
    assert not host.file("/opt/guestbook/.restart-pending").exists
    assert master_pid(host) == sample_master
    assert worker_pids(host, sample_master) == sample_workers


def test_data_survives_a_new_release_and_a_reboot(host, address, tmp_path, back_to_the_inventory):
    message = f"kept {uuid.uuid4().hex[:8]}"
    assert post_message(address, message) in (200, 303)
    before = live_release(host, GUESTBOOK)
    newer = new_release_of(PROJECT / "molecule/default/fixtures/guestbook", tmp_path, "2.0.2")
    run = run_playbook(extra_vars={"flask_apps": apps_with(guestbook={"source": {"path": newer}})})
    assert run.returncode == 0, run.stdout[-3000:]
    after = live_release(host, GUESTBOOK)
    assert after != before
    assert after.startswith("2.0.2-")
    assert http_get(f"http://{address}/healthz", host=HOSTS[GUESTBOOK]).json()["release"] == after
    assert message in entries(address)

    # A reboot of the VM (the container restarts; systemd boots it afresh,
    # /run empty): every app comes back from its enabled units, with its data.
    subprocess.run(["docker", "restart", "--timeout", "30", CONTAINER], check=True, timeout=180)
    host.run("systemctl is-system-running --wait")
    address = host.interface("eth0").addresses[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if message in entries(address):
                break
        except (OSError, ValueError):
            time.sleep(0.5)
    assert message in entries(address)
    assert http_get(f"http://{address}/healthz", host=HOSTS[SAMPLE]).status == 200
