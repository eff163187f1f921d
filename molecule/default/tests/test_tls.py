"""With nginx_tls on (a self-signed certificate): TLS 1.2 and 1.3 with HTTP/2,
no TLS 1.0 or 1.1, HTTP redirected to HTTPS.

The module converges with TLS on and a new release (so a slot switch
happens with TLS on), then back, so the other suites see the host as
Molecule left it.
"""

import http.client
import socket
import ssl

import pytest
from conftest import PROJECT, apps_with, live_release, new_release_of, run_playbook


@pytest.fixture(scope="module")
def tls_on(tmp_path_factory):
    # With a new release of the sample app: the switch happens with TLS on.
    newer = new_release_of(PROJECT / "app", tmp_path_factory.mktemp("tls"), "1.0.4")
    apps = apps_with(sample_app={"source": {"path": newer}})
    run = run_playbook(extra_vars={"nginx_tls": True, "nginx_tls_self_signed": True, "flask_apps": apps})
    assert run.returncode == 0, run.stdout[-3000:]
    yield
    assert run_playbook().returncode == 0


def handshake(address, version, alpn=None, server_name="kit.test"):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = context.maximum_version = version
    # Let this client offer old protocols, so a refusal can only be the server's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if alpn:
        context.set_alpn_protocols(alpn)
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        return tls.version(), tls.selected_alpn_protocol()


@pytest.mark.parametrize(
    ("version", "name"), [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]
)
def test_modern_tls_handshakes(address, tls_on, version, name):
    assert handshake(address, version)[0] == name


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_is_refused_by_the_server(address, tls_on, version):
    with pytest.raises(ssl.SSLError) as refused:
        handshake(address, version)
    print(f"\n[tls] {version.name}: {refused.value}")
    # The server's alert, not a client that could not offer the protocol.
    assert "PROTOCOL_VERSION" in str(refused.value).upper().replace(" ", "_")


def test_http2_is_negotiated(address, tls_on):
    assert handshake(address, ssl.TLSVersion.TLSv1_3, alpn=["h2", "http/1.1"])[1] == "h2"


def test_nginx_takes_its_configuration_without_a_warning(host, tls_on):
    # The http2 listen syntax of this Nginx version: no deprecation warning.
    check = host.run("nginx -t")
    assert check.rc == 0
    assert "[warn]" not in check.stderr, check.stderr


def test_http_redirects_to_https(address, tls_on):
    conn = http.client.HTTPConnection(address, timeout=10)
    conn.request("GET", "/healthz?x=1", headers={"Host": "kit.test"})
    reply = conn.getresponse()
    assert reply.status == 301
    assert reply.getheader("Location") == "https://kit.test/healthz?x=1"


def test_app_answers_over_https_without_hsts_by_default(address, tls_on):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # Self-signed in this test.
    raw = socket.create_connection((address, 443), timeout=10)
    tls = context.wrap_socket(raw, server_hostname="kit.test")
    tls.sendall(b"GET / HTTP/1.1\r\nHost: kit.test\r\nConnection: close\r\n\r\n")
    reply = http.client.HTTPResponse(tls)
    reply.begin()
    assert reply.status == 200
    assert b'"scheme":"https"' in reply.read()
    assert reply.getheader("Strict-Transport-Security") is None


def test_unknown_name_gets_no_tls_handshake(address, tls_on):
    with pytest.raises(ssl.SSLError):
        handshake(address, ssl.TLSVersion.TLSv1_3, server_name="evil.example")


def test_a_deploy_with_tls_on_passes_its_health_check_through_nginx(host, tls_on):
    # The converge with TLS on deployed a new release: its check through
    # Nginx went to loopback, where no TLS server name picks the site, and
    # the HTTP server answered it from there.
    assert live_release(host).startswith("1.0.4-")
