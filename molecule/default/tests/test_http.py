"""What a client sees through Nginx on port 80."""

import pytest
from conftest import http_get


@pytest.mark.parametrize("path", ["/", "/healthz"])
def test_app_answers_json_through_nginx(address, path):
    response = http_get(f"http://{address}{path}")
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()


def test_healthz_reports_the_live_release(host, address):
    live = host.file("/opt/sample_app/current").linked_to.rsplit("/", 1)[-1]
    body = http_get(f"http://{address}/healthz").json()
    assert body["status"] == "ok"
    assert body["release"] == live
    assert body["hostname"] == host.check_output("hostname")


def test_answering_worker_belongs_to_gunicorn(host, address, gunicorn_master):
    pid = http_get(f"http://{address}/healthz").json()["pid"]
    assert host.check_output(f"ps -o ppid= -p {pid}").strip() == str(gunicorn_master)


def test_server_header_hides_the_nginx_version(address):
    assert http_get(f"http://{address}/").headers["Server"] == "nginx"


def test_nginx_passes_the_client_address(host, address):
    # The app sees the client's address (this controller, the VM's gateway on
    # the bridge), not Nginx's end of the unix socket.
    controller = host.check_output("ip -4 route show default").split()[2]
    assert http_get(f"http://{address}/").json()["client"] == controller
