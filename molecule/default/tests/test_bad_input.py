"""An operator's typo stops the run with a message naming the variable and
what is allowed, and the host is left exactly as it was."""

import pytest
from conftest import deployed_state, http_get, run_playbook

# (extra vars, words the error message must contain)
BAD_INPUTS = {
    "workers not a number": ({"gunicorn_workers": "many"}, ["gunicorn_workers", "int"]),
    "workers negative": ({"gunicorn_workers": -3}, ["gunicorn_workers is -3", "from 1 to 1024"]),
    "workers absurd": ({"gunicorn_workers": 100000}, ["gunicorn_workers is 100000", "from 1 to 1024"]),
    "unknown profile": ({"gunicorn_profile": "turbo"}, ["gunicorn_profile", "sync, gthread, gevent"]),
    "threads absurd": ({"gunicorn_threads": 500}, ["gunicorn_threads is 500", "from 1 to 64"]),
    "unknown log level": ({"gunicorn_log_level": "loud"}, ["gunicorn_log_level", "debug, info"]),
    "buffering not a bool": ({"nginx_proxy_buffering": "sometimes"}, ["nginx_proxy_buffering", "bool"]),
    "environment not a dict": ({"flask_app_environment": ["A=1"]}, ["flask_app_environment", "dict"]),
    "missing secret": ({"flask_app_secret_key": ""}, ["flask_app_secret_key is empty"]),
    "placeholder secret": (
        {"flask_app_secret_key": "CHANGE-ME-placeholder-secret", "preflight_require_strong_secret": True},
        ["flask_app_secret_key is a placeholder", "token_urlsafe"],
    ),
    "bad server_name": ({"nginx_server_name": "bad;name"}, ["nginx_server_name is 'bad;name'", "host names"]),
    "bad body size": ({"nginx_client_max_body_size": "lots"}, ["nginx_client_max_body_size", "10m"]),
    "port out of range": ({"nginx_listen_port": 70000}, ["nginx_listen_port is 70000", "1 to 65535"]),
    "keep no releases": ({"flask_app_keep_releases": 0}, ["flask_app_keep_releases is 0", "1 to 50"]),
    "bad app name": ({"flask_app_name": "Bad Name!"}, ["flask_app_name is 'Bad Name!'", "Linux user name"]),
    "relative socket": ({"gunicorn_socket_path": "gunicorn.sock"}, ["gunicorn_socket_path", "absolute path"]),
    "malformed wsgi app": ({"flask_app_wsgi_app": "sample_app create_app"}, ["flask_app_wsgi_app", "module:variable"]),
    "wsgi module not in the app": (
        {"flask_app_wsgi_app": "no_such_module:app"},
        ["flask_app_wsgi_app 'no_such_module:app'", "allowed: a module the app ships (sample_app)"],
    ),
    "app source missing": (
        {"flask_app_source": "/nonexistent/app"},
        ["flask_app_source: /nonexistent/app/pyproject.toml not found"],
    ),
    "timeouts misordered": ({"gunicorn_timeout": 90}, ["gunicorn_timeout (90)", "nginx_proxy_read_timeout (60)"]),
    "graceful after stop": ({"gunicorn_graceful_timeout": 40}, ["gunicorn_graceful_timeout (40)", "TimeoutStopSec"]),
    "buffering off for sync": (
        {"nginx_proxy_request_buffering": False},
        ["nginx_proxy_request_buffering", "gunicorn_profile sync"],
    ),
    "tls without a certificate": (
        {"nginx_tls": True},
        ["nginx_tls is on but nginx_tls_certificate ('') and nginx_tls_certificate_key ('')", "self_signed"],
    ),
    "bad static location": ({"nginx_static_location": "static"}, ["nginx_static_location is 'static'", "URL path"]),
    "header timeout not a number": ({"nginx_client_header_timeout": "slow"}, ["nginx_client_header_timeout", "int"]),
    "unsupported distribution": (
        {"preflight_supported_distributions": {"Debian": ["13"]}},
        ["Debian 12 with Python 3.11 is not supported", "supported: Debian 13"],
    ),
}


@pytest.mark.parametrize(("extra_vars", "expected"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_stops_the_run_and_changes_nothing(host, address, extra_vars, expected):
    before = deployed_state(host)
    run = run_playbook(extra_vars=extra_vars)
    output = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, output[-2000:]
    for words in expected:
        assert words in output, output[-2000:]
    assert deployed_state(host) == before
    assert http_get(f"http://{address}/healthz").status == 200
