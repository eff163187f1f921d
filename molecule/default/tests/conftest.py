"""Fixtures shared by the testinfra suites: how to reach the deployed stack."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from http.client import HTTPMessage

import pytest


@dataclass
class Response:
    """What a client got back: status, headers and body."""

    status: int
    headers: HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def http_get(url: str, timeout: float = 5.0) -> Response:
    """GET ``url`` from the controller, returning error statuses as well."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return Response(reply.status, reply.headers, reply.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


@pytest.fixture(scope="module")
def address(host) -> str:
    """The test VM's address on the Docker bridge, as a client would use it."""
    return host.interface("eth0").addresses[0]


@pytest.fixture(scope="module")
def facts(host) -> dict:
    return host.ansible("setup")["ansible_facts"]


@pytest.fixture
def gunicorn_master(host) -> int:
    pid = int(host.check_output("systemctl show -P MainPID gunicorn.service"))
    assert pid > 0, "gunicorn.service has no main process"
    return pid
