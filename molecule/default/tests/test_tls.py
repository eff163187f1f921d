"""HTTPS: the edge's certificate (nginx_tls, self-signed here) for the sample
app, and the guestbook's own from an ACME CA: TLS 1.2 and 1.3 with HTTP/2,
no TLS 1.0 or 1.1, HTTP redirected to HTTPS, renewals that reload Nginx.

The ACME CA is Debian's pebble (Let's Encrypt's test server), run on the
instance's loopback for this module only (fixtures/pebble). The module
converges with TLS on, the guestbook on ACME and a new release of the
sample app on the gevent profile by gunicorn_by_app (so a slot switch
happens with TLS on, and the profile's tests share this converge); then with nginx_tls off and a second name for
the guestbook (a new certificate); then twice the same (nothing changes);
then back, so the other suites see the host as Molecule left it (and the
guestbook's certificate deleted from certbot, and the sample app on sync
without gevent).
"""

import http.client
import math
import socket
import ssl
import time

import pytest
from conftest import (
    GUESTBOOK,
    PROJECT,
    SAMPLE,
    app_cpus,
    apps_with,
    live_release,
    live_unit,
    new_release_of,
    recap_changed,
    run_playbook,
    settled_workers,
)

PEBBLE = PROJECT / "molecule/default/fixtures/pebble"
ACME_NAME, WWW_NAME = "guestbook.test", "www.guestbook.test"
MODERN = [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")]


@pytest.fixture(scope="module")
def pebble(host):
    """pebble on the instance's loopback, validating HTTP-01 on port 80, and the test name resolving there."""
    assert host.run("DEBIAN_FRONTEND=noninteractive apt-get install -y -q pebble").rc == 0
    # pebble keeps nothing between starts: certbot's account and
    # certificates from an earlier one (a rerun of this module) are void.
    host.run("mkdir -p /etc/pebble; systemctl stop kit-test-pebble; rm -rf /etc/letsencrypt")
    for name in ("pebble-config.json", "cert.pem", "key.pem", "ca.pem"):
        copied = host.ansible("copy", f"src={PEBBLE / name} dest=/etc/pebble/{name} mode=0600", check=False)
        assert not copied.get("failed"), copied
    named = host.ansible(
        "lineinfile", f"path=/etc/hosts line='127.0.0.1 {ACME_NAME} {WWW_NAME}' unsafe_writes=true", check=False
    )
    assert not named.get("failed"), named
    # No random sleeps before validations, no nonces refused at random:
    # a test of the kit, not of certbot's retries.
    started = host.run(
        "systemd-run --collect --unit kit-test-pebble --setenv PEBBLE_VA_NOSLEEP=1 --setenv PEBBLE_WFE_NONCEREJECT=0"
        " /usr/bin/pebble -config /etc/pebble/pebble-config.json"
    )
    assert started.rc == 0, started.stderr
    for _ in range(100):
        if host.socket("tcp://127.0.0.1:14000").is_listening:
            break
        time.sleep(0.2)
    yield {
        "nginx_acme_directory": "https://127.0.0.1:14000/dir",
        "nginx_acme_ca_bundle": str(PEBBLE / "ca.pem"),
    }
    host.run("systemctl stop kit-test-pebble")


@pytest.fixture(scope="module")
def tls_vars(tmp_path_factory, pebble):
    # With a new release of the sample app: the switch happens with TLS on.
    newer = new_release_of(PROJECT / "app", tmp_path_factory.mktemp("tls"), "1.0.4")
    apps = apps_with(sample_app={"source": {"path": newer}}, guestbook={"tls": "acme"})
    # The sample app on gevent by this host's settings (host_vars, as tune.yml writes them).
    gevent = {"gunicorn_by_app": {SAMPLE: {"profile": "gevent"}}}
    return {"nginx_tls": True, "nginx_tls_self_signed": True, "flask_apps": apps, **gevent, **pebble}


@pytest.fixture(scope="module")
def tls_on(host, tls_vars):
    run = run_playbook(extra_vars=tls_vars)
    assert run.returncode == 0, run.stdout[-3000:]
    yield
    assert run_playbook().returncode == 0
    # The guestbook has no tls: acme again: certbot stops renewing its certificate.
    assert not host.file("/etc/letsencrypt/renewal/guestbook.conf").exists
    # The sample app is back on sync, in a virtualenv without gevent.
    assert 'worker_class = "sync"' in host.file("/etc/gunicorn/sample_app.conf.py").content_string
    assert host.run("/opt/sample_app/current/venv/bin/python -c 'import gevent'").rc != 0


@pytest.fixture(scope="module")
def pebble_root(host, tls_on) -> str:
    """The root pebble issues under (made afresh each time it starts), from its management port."""
    fetch = (
        "import ssl, urllib.request; context = ssl.create_default_context(cafile='/etc/pebble/ca.pem');"
        " print(urllib.request.urlopen('https://127.0.0.1:15000/roots/0', context=context).read().decode())"
    )
    return host.check_output(f'python3 -c "{fetch}"')


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


@pytest.mark.parametrize(("version", "name"), MODERN)
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


def test_gevent_runs_one_worker_per_cpu_with_gevent_installed(host, facts, tls_on):
    expected = max(2, math.ceil(app_cpus(facts, SAMPLE)))
    assert len(settled_workers(host, expected)) == expected
    assert host.run("/opt/sample_app/current/venv/bin/python -c 'import gevent'").rc == 0
    assert 'worker_class = "gevent"' in host.file("/etc/gunicorn/sample_app.conf.py").content_string
    unit = live_unit(host)
    since = host.check_output(f"systemctl show -P ActiveEnterTimestamp {unit}")
    journal = host.check_output(f"journalctl -u {unit} --since '{since}' --no-pager")
    assert "Using worker: gevent" in journal


def verified_get(address, root, name, version=ssl.TLSVersion.TLSv1_3):
    """GET /healthz over TLS, trusting the CA's root only and checking the name: (version, status, issuer)."""
    context = ssl.create_default_context(cadata=root)
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection((address, 443), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        issuer = dict(pair[0] for pair in tls.getpeercert()["issuer"])
        tls.sendall(f"GET /healthz HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        reply = http.client.HTTPResponse(tls)
        reply.begin()
        return tls.version(), reply.status, issuer.get("commonName", "")


@pytest.mark.parametrize(("version", "name"), MODERN)
def test_the_acme_certificate_is_served_and_verifies_to_the_cas_root(address, pebble_root, version, name):
    # The certificate certbot got, not the edge's self-signed one the site
    # was served with until then.
    served, status, issuer = verified_get(address, pebble_root, ACME_NAME, version)
    print(f"\n[acme] {served}, issued by {issuer}")
    assert (served, status) == (name, 200)
    assert "Pebble" in issuer


def test_a_renewal_dry_run_succeeds_and_reloads_nginx(host, pebble, tls_on):
    # As certbot's timer runs it (its unit's environment: the CA bundle).
    environment = host.check_output("systemctl show -P Environment certbot.service")
    assert "REQUESTS_CA_BUNDLE=" in environment
    workers = host.check_output("pgrep -f 'nginx: worker process'").split()
    # A dry run goes to Let's Encrypt's staging CA unless told the server
    # (a real renewal uses the one the certificate came from); without a
    # terminal certbot first sleeps up to 8 minutes, as the timer's runs do.
    renew = host.run(
        f"env {environment} certbot renew --dry-run --no-random-sleep-on-renew"
        f" --server {pebble['nginx_acme_directory']}"
    )
    assert renew.rc == 0, renew.stdout + renew.stderr
    assert "all simulated renewals succeeded" in (renew.stdout + renew.stderr).lower()
    # The post hook tested the configuration and reloaded: new workers.
    for _ in range(50):
        after = host.check_output("pgrep -f 'nginx: worker process'").split()
        if not set(after) & set(workers):
            break
        time.sleep(0.2)
    assert not set(after) & set(workers)


@pytest.fixture(scope="module")
def renamed_vars(tls_vars):
    """The guestbook with one more name, and nginx_tls off: the sample app on plain HTTP again."""
    apps = [dict(app, server_names=[ACME_NAME, WWW_NAME]) if app["name"] == GUESTBOOK else app
            for app in tls_vars["flask_apps"]]  # fmt: skip
    return {**tls_vars, "nginx_tls": False, "nginx_tls_self_signed": False, "flask_apps": apps}


def test_a_new_name_gets_a_new_certificate_served_at_once(address, tls_on, pebble_root, renamed_vars):
    run = run_playbook(extra_vars=renamed_vars)
    assert run.returncode == 0, run.stdout[-3000:]
    # Reissued for both names and served without another run; with
    # nginx_tls off only the ACME site is on HTTPS.
    for name in (ACME_NAME, WWW_NAME):
        assert verified_get(address, pebble_root, name)[1] == 200, name
    for name, status in ((WWW_NAME, 301), ("kit.test", 200)):
        conn = http.client.HTTPConnection(address, timeout=10)
        conn.request("GET", "/healthz", headers={"Host": name})
        assert conn.getresponse().status == status, name
        conn.close()


def test_a_second_converge_with_acme_changes_nothing(address, pebble_root, renamed_vars):
    run = run_playbook(extra_vars=renamed_vars)
    assert run.returncode == 0, run.stdout[-3000:]
    assert recap_changed(run.stdout) == 0, run.stdout[-3000:]
