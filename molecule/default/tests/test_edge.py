"""Nginx at the edge: buffering, limits, forwarded headers, static files, errors, logs."""

import gzip
import http.client
import json
import re
import socket
import time
import urllib.request
import uuid

import pytest
from conftest import GUESTBOOK, HOSTS, SAMPLE, http_get, live_slot, live_unit


def nginx_config(host):
    return host.check_output("nginx -T 2>/dev/null")


@pytest.mark.parametrize("directive", ["proxy_buffering on;", "proxy_request_buffering on;"])
def test_buffering_stays_on_in_front_of_sync_workers(host, directive):
    assert 'worker_class = "sync"' in host.file("/etc/gunicorn/sample_app.conf.py").content_string
    assert directive in nginx_config(host)


def test_body_over_the_limit_gets_413(address):
    request = urllib.request.Request(f"http://{address}/echo", data=b"x" * (11 * 1024 * 1024), method="POST")
    try:
        status = urllib.request.urlopen(request, timeout=30).status
    except urllib.error.HTTPError as error:
        status = error.code
    except ConnectionError:
        pytest.fail("Nginx reset the connection instead of answering 413")
    assert status == 413


def test_body_under_the_limit_reaches_the_app(address):
    request = urllib.request.Request(f"http://{address}/echo", data=b"x" * (1024 * 1024), method="POST")
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 200
        assert b'"bytes":1048576' in reply.read()


def test_burst_beyond_the_rate_gets_429(address):
    # Rate 50 r/s with a burst of 100: 300 back-to-back requests on one
    # keep-alive connection exceed it; the first ones still succeed.
    conn = http.client.HTTPConnection(address, timeout=10)
    statuses = []
    for _ in range(300):
        conn.request("GET", "/healthz")
        reply = conn.getresponse()
        reply.read()
        statuses.append(reply.status)
    conn.close()
    assert statuses[0] == 200
    assert 429 in statuses
    assert set(statuses) <= {200, 429}
    time.sleep(3)  # Let the bucket drain for the tests that follow.


def test_unknown_host_gets_no_answer(address):
    conn = http.client.HTTPConnection(address, timeout=10)
    conn.request("GET", "/", headers={"Host": "evil.example"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()


def test_known_name_is_served(address):
    conn = http.client.HTTPConnection(address, timeout=10)
    conn.request("GET", "/healthz", headers={"Host": "kit.test"})
    assert conn.getresponse().status == 200


def test_client_claims_of_forwarding_do_not_reach_the_app(address):
    spoofed = {
        "X-Forwarded-For": "198.51.100.1",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Ssl": "on",
        "X-Forwarded-Protocol": "ssl",
        "X-Real-IP": "198.51.100.1",
        "Forwarded": "for=198.51.100.1;proto=https",
    }
    request = urllib.request.Request(f"http://{address}/headers", headers=spoofed)
    with urllib.request.urlopen(request, timeout=5) as reply:
        seen = {k.lower(): v for k, v in json.load(reply).items()}
    assert "198.51.100.1" not in seen["x-forwarded-for"]
    assert seen["x-forwarded-proto"] == "http"
    for header in ("x-forwarded-ssl", "x-forwarded-protocol", "x-real-ip", "forwarded"):
        assert header not in seen
    assert http_get(f"http://{address}/", timeout=5).json()["scheme"] == "http"


def test_static_files_come_from_the_release_with_cache_headers(host, address):
    response = http_get(f"http://{address}/static/robots.txt")
    assert response.status == 200
    assert response.body == host.file("/opt/sample_app/current/static/robots.txt").content
    assert "max-age=604800" in response.headers["Cache-Control"]
    assert response.headers["Expires"]


def test_app_down_shows_the_custom_502_page(host, address):
    slot = live_unit(host).removesuffix(".service")
    host.run_expect([0], f"systemctl stop {slot}.socket {slot}.service")
    try:
        response = http_get(f"http://{address}/healthz")
    finally:
        host.run_expect([0], f"systemctl start {slot}.socket {slot}.service")
    assert response.status == 502
    assert b"The application is restarting" in response.body
    assert http_get(f"http://{address}/healthz", timeout=30).status == 200


def logged(host, name: str, mark: str) -> list[str]:
    """Lines of /var/log/nginx/<name> that hold ``mark``."""
    return [ln for ln in host.file(f"/var/log/nginx/{name}").content_string.splitlines() if mark in ln]


def test_each_site_logs_requests_and_upstream_times_to_its_own_log(host, address):
    http_get(f"http://{address}/?logged", host=HOSTS[SAMPLE])
    line = logged(host, f"{SAMPLE}.access.log", "?logged")[-1]
    assert " 200 " in line
    assert re.search(r" rt=\d+\.\d+ uct=\d+\.\d+ urt=\d+\.\d+$", line), line
    assert not logged(host, f"{GUESTBOOK}.access.log", "?logged")
    assert not logged(host, "access.log", "?logged")


def test_health_checks_go_to_a_log_of_their_own(host, address):
    http_get(f"http://{address}/healthz?checked", host=HOSTS[SAMPLE])
    assert " 200 " in logged(host, f"{SAMPLE}.health.log", "?checked")[-1]
    assert not logged(host, f"{SAMPLE}.access.log", "?checked")


def test_logs_rotate_and_logging_goes_on(host, address):
    assert host.run("logrotate --debug /etc/logrotate.d/nginx").rc == 0
    host.run_expect([0], "logrotate --force /etc/logrotate.d/nginx")
    assert host.file(f"/var/log/nginx/{SAMPLE}.access.log.1").exists
    http_get(f"http://{address}/?after-rotation", host=HOSTS[SAMPLE])
    time.sleep(1)
    assert logged(host, f"{SAMPLE}.access.log", "?after-rotation")


def test_slow_header_is_cut_off_after_the_header_timeout(address):
    # A slowloris client: a header line every 2 s, never the blank line.
    timeout = 10
    client = socket.create_connection((address, 80), timeout=timeout + 10)
    client.sendall(b"GET / HTTP/1.1\r\nHost: kit.test\r\n")
    start = time.monotonic()
    closed_after = None
    try:
        while time.monotonic() - start < timeout + 10:
            time.sleep(2)
            client.sendall(b"X-Slow: 1\r\n")
    except OSError:
        closed_after = time.monotonic() - start
    finally:
        client.close()
    print(f"\n[edge] slow header connection closed after {closed_after} s (client_header_timeout {timeout} s)")
    assert closed_after is not None, "Nginx kept a slow header connection open"
    assert closed_after <= timeout + 5


KIT_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}


@pytest.mark.parametrize(
    ("app", "path", "status"),
    [
        (SAMPLE, "/", 200),
        (SAMPLE, "/static/style.css", 200),
        (GUESTBOOK, "/", 200),
        (GUESTBOOK, "/static/guestbook.css", 200),
        (SAMPLE, "/no-such-page", 404),
    ],
)
def test_answers_carry_the_security_headers(address, app, path, status):
    response = http_get(f"http://{address}{path}", host=HOSTS[app])
    assert response.status == status
    for name, value in KIT_HEADERS.items():
        assert response.headers[name] == value, name
    # guestbook's inventory entry replaces X-Frame-Options with its own CSP.
    if app == GUESTBOOK:
        assert "X-Frame-Options" not in response.headers
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    else:
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        assert "Content-Security-Policy" not in response.headers


def test_dotfiles_answer_404_and_never_reach_the_app(host, address):
    mark = uuid.uuid4().hex[:8]
    for path in (f"/.env?{mark}", f"/.git/config?{mark}", f"/static/.hidden?{mark}"):
        assert http_get(f"http://{address}{path}", host=HOSTS[SAMPLE]).status == 404, path
    # A request the app does see, as the control: its access log line is in the journal.
    http_get(f"http://{address}/?{mark}", host=HOSTS[SAMPLE])
    time.sleep(1)
    journal = host.check_output(f"journalctl --no-pager -o cat -u {SAMPLE}@{live_slot(host)}.service --since -2min")
    assert f"/?{mark}" in journal
    assert f".env?{mark}" not in journal
    assert f".git/config?{mark}" not in journal


def test_text_answers_are_compressed_for_clients_that_accept_it(address):
    request = urllib.request.Request(f"http://{address}/", headers={"Host": HOSTS[GUESTBOOK]})
    with urllib.request.urlopen(request, timeout=5) as plain:
        page = plain.read()
        assert plain.headers["Content-Encoding"] is None
    request.add_header("Accept-Encoding", "gzip")
    with urllib.request.urlopen(request, timeout=5) as compressed:
        assert compressed.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in compressed.headers["Vary"]
        body = compressed.read()
    assert len(body) < len(page)
    assert gzip.decompress(body).startswith(b"<!doctype html>")


def test_a_host_booted_with_ipv6_disabled_serves_on_ipv4(host, address):
    # The instance boots with IPv6 off (molecule.yml's sysctls): Nginx must
    # not listen on [::], where it would fail to start, and still serve.
    assert host.file("/proc/sys/net/ipv6/conf/all/disable_ipv6").content_string.strip() == "1"
    assert "listen [::]" not in host.check_output("nginx -T 2>/dev/null")
    assert host.socket("tcp://0.0.0.0:80").is_listening
    for app, name in HOSTS.items():
        assert http_get(f"http://{address}/healthz", host=name).status == 200, app
