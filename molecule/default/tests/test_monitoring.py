"""Monitoring of the one-host test bed (it is in the web and monitoring groups):
Prometheus scrapes every exporter, counts each app's requests from Nginx's
logs, and an app with no healthy slot fires AppDown, delivered to a webhook.

Prometheus and every exporter listen on the host's loopback: the tests ask
them from inside the host. The inventory's monitoring group_vars shorten the
scrape and alert windows to seconds and point Alertmanager at a receiver the
tests start on the host (port 9199).
"""

from __future__ import annotations

import json
import shlex
import socket
import time
import urllib.parse

import pytest
from conftest import GUESTBOOK, HOSTS, PROJECT, SAMPLE, http_get, live_slot

PROMETHEUS = "http://127.0.0.1:9090"
JOBS = {"prometheus", "alertmanager", "node", "nginx", "mtail", "process", "app_health"}
# Every port of the monitoring stack: Prometheus, Alertmanager, the node,
# Nginx, mtail, process and blackbox exporters, and Nginx's stub_status.
PORTS = [9090, 9093, 9100, 9113, 3903, 9256, 9115, 8090]
WEBHOOK_LOG = "/run/kit-test-webhook/alerts.jsonl"
WEBHOOK = f"""
import http.server
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("{WEBHOOK_LOG}", "ab") as log:
            log.write(body.replace(b"\\n", b" ") + b"\\n")
        self.send_response(200)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", 9199), Receiver).serve_forever()
"""


def fetch(host, url: str) -> dict:
    """GET a JSON URL from inside the host (Prometheus answers its loopback only)."""
    code = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
    return json.loads(host.check_output(f"python3 -c {shlex.quote(code)} {shlex.quote(url)}"))


def query(host, promql: str) -> dict[str, float]:
    """An instant query's result, by the series' app label."""
    answer = fetch(host, f"{PROMETHEUS}/api/v1/query?query={urllib.parse.quote(promql)}")
    return {series["metric"].get("app", ""): float(series["value"][1]) for series in answer["data"]["result"]}


def until(condition, deadline: float, what: str, pause: float = 1.0):
    """Call ``condition`` until it returns something true; fail after ``deadline`` seconds naming ``what``."""
    end = time.monotonic() + deadline
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < end, f"no {what} within {deadline:.0f} s (last: {result!r})"
        time.sleep(pause)


def test_every_scrape_target_is_up(host):
    def targets():
        active = fetch(host, f"{PROMETHEUS}/api/v1/targets?state=active")["data"]["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = until(targets, 60, "scrape with every target up")
    assert {t["labels"]["job"] for t in active} == JOBS
    assert sorted(t["labels"]["app"] for t in active if t["labels"]["job"] == "app_health") == sorted(HOSTS)
    assert {t["labels"]["host"] for t in active} == {"kit-molecule"}


def test_the_alert_rules_pass_their_unit_tests(host):
    tests = (PROJECT / "molecule/default/fixtures/alert_rules_test.yml").read_text()
    path = "/root/kit-alert-rules-test.yml"
    host.run_expect([0], f"printf %s {shlex.quote(tests)} > {path}")
    run = host.run(f"promtool test rules {path}")
    assert run.rc == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


@pytest.mark.parametrize("port", PORTS)
def test_monitoring_answers_on_loopback_only(host, address, port):
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    with pytest.raises(OSError), socket.create_connection((address, port), timeout=3):
        pass


def test_alertmanager_has_no_cluster_port(host):
    # One Alertmanager: its gossip port (9094 by default) is off.
    assert "9094" not in host.check_output("ss -Hltn")


def test_an_apps_request_counter_rises_by_exactly_its_requests(host, address):
    counted = "sum by (app) (nginx_app_requests_total)"

    def settled() -> tuple[dict[str, float]] | None:
        # The earlier tests' last requests reach Prometheus a scrape (2 s)
        # after they were made: count from two equal answers 3 s apart.
        first = query(host, counted)
        time.sleep(3)
        return (first,) if query(host, counted) == first else None

    (before,) = until(settled, 30, "settled request counters")
    requests = 25
    # Counted across a rotation of the logs mtail reads, as logrotate does daily.
    for sent in range(requests):
        if sent == 10:
            host.run_expect([0], "logrotate --force /etc/logrotate.d/nginx")
        assert http_get(f"http://{address}/", host=HOSTS[SAMPLE]).status == 200
    expected = before.get(SAMPLE, 0) + requests
    # Nginx logs, mtail counts and Prometheus scrapes (every 2 s): wait for
    # the count, then two scrapes more for any request counted twice.
    until(lambda: query(host, counted).get(SAMPLE, 0) >= expected, 30, f"{SAMPLE} count of {expected}")
    time.sleep(5)
    after = query(host, counted)
    print(f"\n[monitoring] {SAMPLE}: {before.get(SAMPLE, 0):.0f} -> {after[SAMPLE]:.0f} after {requests} requests")
    assert after[SAMPLE] == expected
    assert after.get(GUESTBOOK, 0) == before.get(GUESTBOOK, 0)


@pytest.fixture
def webhook(host):
    """A webhook receiver on the host, where the test inventory points Alertmanager; yields its log's path."""
    host.run("systemctl stop kit-test-webhook; systemctl reset-failed kit-test-webhook")
    host.run_expect(
        [0],
        "systemd-run --unit=kit-test-webhook --property=DynamicUser=yes "
        f"--property=RuntimeDirectory=kit-test-webhook /usr/bin/python3 -c {shlex.quote(WEBHOOK)}",
    )
    until(lambda: host.socket("tcp://127.0.0.1:9199").is_listening, 15, "webhook receiver listening")
    yield WEBHOOK_LOG
    host.run("systemctl stop kit-test-webhook")


def test_an_app_with_no_healthy_slot_fires_app_down_to_the_webhook(host, address, webhook):
    slot = live_slot(host, GUESTBOOK)
    units = " ".join(f"{GUESTBOOK}@{s}.{kind}" for s in ("blue", "green") for kind in ("socket", "service"))
    # A slot never started is no unit systemd has loaded: stop says so, and
    # is-active must show every one of them stopped.
    host.run(f"systemctl stop {units}")
    assert "active" not in host.run(f"systemctl is-active {units}").stdout.split()
    try:

        def firing() -> list[dict]:
            alerts = fetch(host, f"{PROMETHEUS}/api/v1/alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"]["alertname"] == "AppDown" and a["state"] == "firing"]

        alerts = until(firing, 90, "AppDown firing in Prometheus")
        assert [a["labels"]["app"] for a in alerts] == [GUESTBOOK]

        def delivered() -> list[dict]:
            lines = host.run(f"cat {webhook}").stdout.splitlines()
            notices = [json.loads(line) for line in lines if line.strip()]
            return [
                a
                for notice in notices
                for a in notice["alerts"]
                if a["labels"]["alertname"] == "AppDown" and a["status"] == "firing"
            ]

        notices = until(delivered, 60, "AppDown delivered to the webhook")
        assert {a["labels"]["app"] for a in notices} == {GUESTBOOK}
        assert notices[0]["labels"]["host"] == "kit-molecule"
        assert "no healthy slot" in notices[0]["annotations"]["summary"]
    finally:
        host.run_expect([0], f"systemctl start {GUESTBOOK}@{slot}.socket {GUESTBOOK}@{slot}.service")
    until(lambda: http_get(f"http://{address}/healthz", host=HOSTS[GUESTBOOK]).status == 200, 30, "guestbook back")
