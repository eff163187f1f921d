"""What a client sees from each endpoint."""

from __future__ import annotations

import os
import time

from flask.testing import FlaskClient


def test_index_returns_json(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.is_json
    assert response.json["message"].startswith("Hello")


def test_healthz_names_release_host_and_worker(client: FlaskClient) -> None:
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert body["release"] == "r-test"
    assert body["pid"] == os.getpid()
    assert body["hostname"]


def test_echo_counts_body_bytes(client: FlaskClient) -> None:
    assert client.post("/echo", data=b"x" * 1234).json == {"bytes": 1234}


def test_forwarded_headers_from_the_proxy_are_honoured(client: FlaskClient) -> None:
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    body = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}).json
    assert body["client"] == "203.0.113.7"
    assert body["scheme"] == "https"


def test_only_one_proxy_hop_is_trusted(client: FlaskClient) -> None:
    # A client cannot spoof its address by prepending its own X-Forwarded-For.
    headers = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
    assert client.get("/", headers=headers).json["client"] == "203.0.113.7"


def test_sleep_endpoint_is_off_by_default(client: FlaskClient) -> None:
    assert client.get("/sleep/1").status_code == 404


def test_sleep_endpoint_when_enabled(app) -> None:
    app.config["TEST_ENDPOINTS"] = True
    assert app.test_client().get("/sleep/5").json == {"slept_ms": 5}


def test_work_endpoints_are_off_by_default(client: FlaskClient) -> None:
    assert client.get("/work/cpu?ms=1").status_code == 404
    assert client.get("/work/io?ms=1").status_code == 404


def test_work_endpoints_spend_cpu_or_wait(app) -> None:
    app.config["TEST_ENDPOINTS"] = True
    client = app.test_client()
    started = time.thread_time()
    assert client.get("/work/cpu?ms=20").json["cpu_ms"] == 20
    assert time.thread_time() - started >= 0.02
    started = time.monotonic()
    assert client.get("/work/io?ms=20").json == {"io_ms": 20}
    assert time.monotonic() - started >= 0.02


def test_headers_endpoint_is_off_by_default(client: FlaskClient) -> None:
    assert client.get("/headers").status_code == 404


def test_headers_endpoint_echoes_request_headers(app) -> None:
    app.config["TEST_ENDPOINTS"] = True
    assert app.test_client().get("/headers", headers={"X-Test": "1"}).json["X-Test"] == "1"
