"""An operator's typo stops the run with a message naming the app, the key
and what is allowed, and the host is left exactly as it was."""

import datetime
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import APPS, GUESTBOOK, PROJECT, SAMPLE, apps_with, deployed_state, http_get, run_playbook
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def app_vars(app: str, /, **keys) -> dict:
    """Extra vars replacing some keys of one app in flask_apps."""
    return {"flask_apps": apps_with(**{app: keys})}


def with_gunicorn(app: str, **settings) -> dict:
    return app_vars(app, gunicorn={**APPS[app].get("gunicorn", {}), **settings})


def stale_source(tmp_path: Path) -> str:
    """The sample app with one more dependency than its lock was made from."""
    copy = tmp_path / "app"
    copy.mkdir()
    text = (PROJECT / "app/pyproject.toml").read_text()
    (copy / "pyproject.toml").write_text(text.replace('"flask>=3.1,<4"', '"flask>=3.1,<4", "itsdangerous>=2"'))
    return str(copy)


def operator_tls(tmp_path: Path, *, expired: bool = False, other_key: bool = False) -> dict:
    """nginx_tls with a certificate and key made here: expired, or with the key of another certificate."""
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kit.test")])
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    start, end = (now - 30 * day, now - day) if expired else (now - day, now + 30 * day)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .sign(key, hashes.SHA256())
    )
    kind = "expired" if expired else "mismatched"
    cert_file, key_file = tmp_path / f"{kind}.crt", tmp_path / f"{kind}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        (other if other_key else key).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return {"nginx_tls": True, "nginx_tls_certificate": str(cert_file), "nginx_tls_certificate_key": str(key_file)}


# (extra vars, or a function of tmp_path giving them; words the error message must contain)
BAD_INPUTS = {
    # Each app's entry (the flask_app role).
    "unknown key": (app_vars(GUESTBOOK, sorce={"path": "/x"}), ["app 'guestbook': unknown key(s) sorce", "allowed:"]),
    "source with two kinds": (
        app_vars(GUESTBOOK, source={"path": "/x", "package": "guestbook==2.0"}),
        ["app 'guestbook': key 'source' names path and package", "exactly one of"],
    ),
    "missing secret": (app_vars(SAMPLE, secret_key=""), ["app 'sample_app': missing key(s) secret_key"]),
    "placeholder secret": (
        {**app_vars(SAMPLE, secret_key="CHANGE-ME-placeholder-secret"), "flask_app_require_strong_secret": True},
        ["app 'sample_app': key 'secret_key' is a placeholder", "token_urlsafe"],
    ),
    "reserved app name": (
        {"flask_apps": apps_with(guestbook={"name": "backup", "config_files": [], "lock_dir": "/x"})},
        ["app 'backup': key 'name' is 'backup', a system account or service"],
    ),
    "bad app name": (app_vars(SAMPLE, name="Bad Name!"), ["app 'Bad Name!': key 'name' is 'Bad Name!'", "Linux user"]),
    "bad server name": (app_vars(SAMPLE, server_names=["bad;name"]), ["app 'sample_app': key 'server_names'"]),
    "environment not a dict": (app_vars(SAMPLE, environment=["A=1"]), ["app 'sample_app': key 'environment'"]),
    "malformed wsgi app": (
        app_vars(SAMPLE, wsgi_app="sample_app create_app"),
        ["app 'sample_app': key 'wsgi_app'", "module:variable"],
    ),
    "bad static url": (app_vars(SAMPLE, static_url="static"), ["app 'sample_app': key 'static_url'", "URL path"]),
    "config file outside the app's directories": (
        app_vars(GUESTBOOK, config_files=[{"src": "/etc/hostname", "dest": "/etc/passwd"}]),
        ["app 'guestbook': key 'config_files[0].dest' is '/etc/passwd'", "/etc/guestbook/"],
    ),
    "app source missing": (
        app_vars(SAMPLE, source={"path": "/nonexistent/app"}),
        ["app 'sample_app': key 'source.path' is '/nonexistent/app', not found on the controller"],
    ),
    "missing lock": (
        app_vars(GUESTBOOK, lock_dir="/nonexistent/locks"),
        ["app 'guestbook': lock /nonexistent/locks/py3.11.txt for Python 3.11 is missing", "playbooks/lock.yml"],
    ),
    "lock older than the dependencies": (
        lambda tmp_path: app_vars(SAMPLE, source={"path": stale_source(tmp_path)}),
        ["app 'sample_app': lock", "is older than the app's pin or pyproject dependencies", "playbooks/lock.yml"],
    ),
    "wsgi module not in the app": (
        app_vars(SAMPLE, wsgi_app="no_such_module:app"),
        ["app 'sample_app': key 'wsgi_app' ('no_such_module:app') does not load", "No module named 'no_such_module'"],
    ),
    # This host's Gunicorn settings by app (host_vars; playbooks/tune.yml writes them).
    "gunicorn_by_app for an unknown app": (
        {"gunicorn_by_app": {"nosuch": {"workers": 3}}},
        ["gunicorn_by_app of kit-molecule: keys must be apps of flask_apps (sample_app, guestbook)"],
    ),
    "gunicorn_by_app out of range": (
        {"gunicorn_by_app": {SAMPLE: {"workers": 0}}},
        ["gunicorn settings of sample_app: workers is 0; allowed: an integer from 1 to 1024"],
    ),
    "static directory missing": (
        app_vars(GUESTBOOK, static_dir="no-such-dir"),
        ["app 'guestbook': key 'static_dir' is 'no-such-dir'", "not a directory"],
    ),
    "keep no releases": ({"flask_app_keep_releases": 0}, ["flask_app_keep_releases is 0", "1 to 50"]),
    # Between apps (the preflight role).
    "duplicate app names": (
        {"flask_apps": [*apps_with(), {**APPS[SAMPLE], "server_names": ["other.test"]}]},
        ["app 'sample_app': key 'name' is used by more than one app"],
    ),
    "two apps claiming any host": (
        {"flask_apps": apps_with(sample_app={"server_names": ["_"]}, guestbook={"server_names": ["_"]})},
        ["app 'guestbook': key 'server_names' claims '_', already app 'sample_app''s"],
    ),
    "two apps claiming one name": (
        app_vars(GUESTBOOK, server_names=["kit.test"]),
        ["app 'guestbook': key 'server_names' claims 'kit.test', already app 'sample_app''s"],
    ),
    # Each app's Gunicorn settings (the gunicorn role).
    "workers not a number": (with_gunicorn(SAMPLE, workers="many"), ["sample_app", "gunicorn_workers", "int"]),
    "workers negative": (with_gunicorn(SAMPLE, workers=-3), ["sample_app: workers is -3", "from 1 to 1024"]),
    "workers absurd": (with_gunicorn(SAMPLE, workers=100000), ["sample_app: workers is 100000", "from 1 to 1024"]),
    "unknown profile": (with_gunicorn(GUESTBOOK, profile="turbo"), ["guestbook", "gunicorn_profile", "sync, gthread"]),
    "unknown gunicorn setting": (
        with_gunicorn(GUESTBOOK, wrokers=3),
        ["gunicorn settings of guestbook: unknown key(s) wrokers", "allowed: profile, workers"],
    ),
    "threads absurd": (with_gunicorn(GUESTBOOK, threads=500), ["guestbook: threads is 500", "from 1 to 64"]),
    "graceful after stop": (
        with_gunicorn(SAMPLE, graceful_timeout=40),
        ["sample_app: graceful_timeout (40)", "TimeoutStopSec"],
    ),
    "unknown log level": ({"gunicorn_log_level": "loud"}, ["gunicorn_log_level", "debug, info"]),
    # Nginx (the nginx role) and the rules between roles (preflight).
    "buffering not a bool": ({"nginx_proxy_buffering": "sometimes"}, ["nginx_proxy_buffering", "bool"]),
    "bad body size": ({"nginx_client_max_body_size": "lots"}, ["nginx_client_max_body_size", "10m"]),
    "port out of range": ({"nginx_listen_port": 70000}, ["nginx_listen_port is 70000", "1 to 65535"]),
    "header timeout not a number": ({"nginx_client_header_timeout": "slow"}, ["nginx_client_header_timeout", "int"]),
    "tls without a certificate": (
        {"nginx_tls": True},
        ["nginx_tls is on but nginx_tls_certificate ('') and nginx_tls_certificate_key ('')", "self_signed"],
    ),
    "certificate with another's key": (
        lambda tmp_path: operator_tls(tmp_path, other_key=True),
        [
            "mismatched.crt' and nginx_tls_certificate_key",
            "mismatched.key' are not fit to serve",
            "the key is not the private key of the first certificate",
        ],
    ),
    "expired certificate": (
        lambda tmp_path: operator_tls(tmp_path, expired=True),
        ["expired.crt' and nginx_tls_certificate_key", "certificate 1 of the chain has expired"],
    ),
    "acme for an ip address": (
        app_vars(SAMPLE, tls="acme"),
        ["app 'sample_app': key 'tls' is 'acme' but server_names has", "the HTTP-01 challenge proves DNS names"],
    ),
    "acme off port 80": (
        {**app_vars(GUESTBOOK, tls="acme"), "nginx_listen_port": 8080},
        ["app 'guestbook' has tls: acme but nginx_listen_port is 8080", "HTTP-01 challenge on port 80 only"],
    ),
    "timeouts misordered": (
        with_gunicorn(SAMPLE, timeout=90),
        ["app 'sample_app': gunicorn timeout (90)", "nginx_proxy_read_timeout (60)"],
    ),
    "buffering off for sync": (
        {"nginx_proxy_request_buffering": False},
        ["nginx_proxy_request_buffering is off but app 'sample_app' has gunicorn profile sync"],
    ),
    "unsupported distribution": (
        {"preflight_supported_distributions": {"Debian": ["13"]}},
        ["Debian 12 with Python 3.11 is not supported", "supported: Debian 13"],
    ),
    "header with a quote": (
        app_vars(SAMPLE, headers={"Content-Security-Policy": 'default-src "self"'}),
        ["app 'sample_app': key 'headers'", "no double quotes"],
    ),
    # Monitoring (the monitoring and exporters roles), checked first of all.
    "error ratio out of range": (
        {"monitoring_error_ratio": 2},
        ["monitoring_error_ratio is 2", "allowed: a number between 0 and 1"],
    ),
    "alert window not a duration": (
        {"monitoring_app_down_for": "5 minutes"},
        ["monitoring_app_down_for is '5 minutes'", "allowed: a duration such as 30s"],
    ),
    "exporter port not a number": ({"exporters_node_port": "ninety"}, ["exporters_node_port", "int"]),
    # The firewall, checked before any host changes too.
    "firewall source not an address": (
        {"firewall_allow": [{"port": 5432, "sources": ["db.example.com"]}]},
        ["firewall_allow[0] (port 5432): db.example.com is not an address", "allowed: IPv4 or IPv6 addresses"],
    ),
    "firewall rule without a port": ({"firewall_allow": [{"sources": ["10.0.0.7"]}]}, ["firewall_allow", "port"]),
}


# Caught on the host, by the release's own checks (after the controller's):
# run one at a time, each with its own look at the deployed state.
ON_THE_HOST = ("wsgi module not in the app", "static directory missing")


@pytest.fixture(scope="module")
def rejected(host, tmp_path_factory):
    """Every bad input's run, with whether the deployed state changed.

    The cases the controller catches (all but ON_THE_HOST) stop in seconds
    and touch no host: they run side by side, between one look at the
    deployed state before and one after them all.
    """
    tmp_path = tmp_path_factory.mktemp("bad-input")
    cases = {name: extra(tmp_path) if callable(extra) else extra for name, (extra, _) in BAD_INPUTS.items()}
    runs, changed = {}, {}
    for case in ON_THE_HOST:
        before = deployed_state(host)
        runs[case] = run_playbook(extra_vars=cases[case], book="site.yml")
        changed[case] = deployed_state(host) != before
    on_controller = [case for case in cases if case not in ON_THE_HOST]
    before = deployed_state(host)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda case: run_playbook(extra_vars=cases[case], book="site.yml"), on_controller)
        runs.update(zip(on_controller, results, strict=True))
    changed.update(dict.fromkeys(on_controller, deployed_state(host) != before))
    return runs, changed


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_stops_the_run_and_changes_nothing(host, address, rejected, case):
    runs, changed = rejected
    output = " ".join((runs[case].stdout + runs[case].stderr).split())
    assert runs[case].returncode != 0, output[-2000:]
    for words in BAD_INPUTS[case][1]:
        assert words in output, output[-3000:]
    assert not changed[case]
    for app, name in (("sample_app", "kit.test"), ("guestbook", "guestbook.test")):
        assert http_get(f"http://{address}/healthz", host=name).json()["status"] == "ok", app
