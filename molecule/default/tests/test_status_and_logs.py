"""status.yml says what runs where, as the host itself would; logs.yml shows
one app's journal lines, by host. Both only read."""

from __future__ import annotations

import re
import urllib.request
import uuid

from conftest import APPS, GUESTBOOK, HOSTS, SAMPLE, http_get, live_slot, master_pid, playbook, worker_pids

COLUMNS = ["host", "app", "release", "since", "slot", "workers", "units", "health", "nginx", "gunicorn"]


def status_rows(output: str) -> dict[str, dict[str, str]]:
    """The table status.yml printed, by app: the lines after its header, cells apart by two spaces or more."""
    lines = output.split("TASK [Show what runs where]")[1].split("PLAY RECAP")[0].splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == COLUMNS)
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[header + 1 :] if line.strip()]
    return {row[1]: dict(zip(COLUMNS, row, strict=True)) for row in rows}


def test_status_reports_what_each_app_serves(host, address):
    run = playbook("status.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "changed=0" in run.stdout
    rows = status_rows(run.stdout)
    assert set(rows) == set(APPS)
    nginx = host.check_output("nginx -v 2>&1").rsplit("/", 1)[-1]
    for app, row in rows.items():
        served = http_get(f"http://{address}/healthz", host=HOSTS[app]).json()["release"]
        print(f"\n[status] {'  '.join(row.values())}")
        assert row["host"] == "kit-molecule"
        assert row["release"] == served
        assert row["health"] == f"200 {served}"
        assert row["slot"] == live_slot(host, app)
        assert row["units"] == "service active/enabled, socket active"
        profile = APPS[app].get("gunicorn", {}).get("profile", "sync")
        assert row["workers"] == f"{profile} x {len(worker_pids(host, master_pid(host, app)))}"
        assert row["nginx"] == nginx
        assert re.fullmatch(r"\d+\.\d+\.\d+", row["gunicorn"])


def test_status_reports_a_stopped_slot_as_down(host, address):
    slot = live_slot(host, GUESTBOOK)
    host.run_expect([0], f"systemctl stop {GUESTBOOK}@{slot}.socket {GUESTBOOK}@{slot}.service")
    try:
        rows = status_rows(playbook("status.yml").stdout)
        assert rows[GUESTBOOK]["units"] == "service inactive/enabled, socket inactive"
        assert rows[GUESTBOOK]["workers"] == "gthread x 0"
        assert rows[GUESTBOOK]["health"].split()[0] == "502"
        assert rows[SAMPLE]["health"].split()[0] == "200"
    finally:
        host.run_expect([0], f"systemctl start {GUESTBOOK}@{slot}.socket {GUESTBOOK}@{slot}.service")
    assert http_get(f"http://{address}/healthz", host=HOSTS[GUESTBOOK]).status == 200


def test_logs_show_one_apps_journal_lines_by_host(address):
    # A request of our own: Gunicorn's access log line for it is in the journal.
    agent = f"kit-logs-test-{uuid.uuid4().hex[:8]}"
    request = urllib.request.Request(
        f"http://{address}/healthz", headers={"Host": HOSTS[GUESTBOOK], "User-Agent": agent}
    )
    assert urllib.request.urlopen(request, timeout=5).status == 200
    run = playbook("logs.yml", "-e", f"app={GUESTBOOK}", "-e", "lines=30", "-e", "since=-1d")
    assert run.returncode == 0, run.stdout[-3000:]
    lines = [line.strip() for line in run.stdout.split("msg: |-")[1].split("PLAY RECAP")[0].splitlines()]
    lines = [line for line in lines if line]
    assert 0 < len(lines) <= 30
    # Every line is the host's, from or about one of the app's slot units
    # (systemd's own lines name the unit in their text).
    assert all(line.startswith("kit-molecule | ") for line in lines), lines
    assert all(re.search(rf"\b{GUESTBOOK}@(blue|green)\.(service|socket)\b", line) for line in lines), lines
    assert any(agent in line for line in lines), lines


def test_logs_refuse_an_unknown_app_or_line_count():
    for extra, message in (
        (["-e", "app=nosuchapp"], f"logs: app 'nosuchapp' is not one of flask_apps ({SAMPLE}, {GUESTBOOK})"),
        (["-e", f"app={GUESTBOOK}", "-e", "lines=lots"], "logs: lines 'lots' is not a number from 1 to 10000"),
    ):
        run = playbook("logs.yml", *extra)
        assert run.returncode != 0
        output = " ".join((run.stdout + run.stderr).split())
        assert message in output, output[-2000:]
