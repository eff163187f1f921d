"""An app entry of flask_apps: what is refused, with which words, and the defaults filled in."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask_app_settings import (
    DEFAULTS,
    flask_app_build_targets,
    flask_app_errors,
    flask_app_health_detail,
    flask_app_healthy,
    flask_app_live,
    flask_app_lock_target,
    flask_app_prunable,
    flask_app_settings,
    manylinux_platforms,
)
from preflight_apps import flask_apps_errors

GOOD = {
    "name": "billing",
    "source": {"package": "billing==2.0"},
    "wsgi_app": "billing.wsgi:app",
    "secret_key": "s" * 40,
}


def entry(**changes: object) -> dict:
    return {**GOOD, **changes}


def test_a_minimal_entry_is_fit() -> None:
    assert flask_app_errors(GOOD) == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"sorce": {}}, "app 'billing': unknown key(s) sorce"),
        ({"source": {"path": "/a", "wheel": "/b.whl"}}, "key 'source' names path and wheel"),
        ({"source": {}}, "key 'source' names no kind"),
        ({"source": {"url": "x"}}, "key 'source' has unknown key(s) url"),
        ({"source": {"wheel": "/dist/billing.tar.gz"}}, "key 'source.wheel' is '/dist/billing.tar.gz'"),
        ({"name": "Billing App"}, "app 'Billing App': key 'name' is 'Billing App'"),
        ({"wsgi_app": "billing"}, "key 'wsgi_app' is 'billing'"),
        ({"server_names": ["_", "billing.example.org"]}, "key 'server_names' mixes '_' with names"),
        ({"server_names": ["bad;name"]}, "key 'server_names' is ['bad;name']"),
        ({"environment": {"BAD-NAME": "x"}}, "key 'environment' has bad name(s) BAD-NAME"),
        ({"config_files": [{"src": "a", "dest": "/etc/other/x"}]}, "key 'config_files[0].dest' is '/etc/other/x'"),
        ({"config_files": [{"src": "a", "dest": "/etc/billing/../passwd"}]}, "key 'config_files[0].dest'"),
        ({"hooks": {"after_switch": []}}, "key 'hooks' is"),
        ({"hooks": {"before_switch": [{"command": "x", "creates": "relative"}]}}, "key 'hooks.before_switch[0]'"),
        ({"health": {"path": "healthz"}}, "key 'health' is"),
        ({"health": {"timeout": 0}}, "timeout: 60 (seconds"),
        ({"health": {"status": "ok"}}, "key 'health' is"),
        ({"maintenance_page": 3}, "key 'maintenance_page' is 3"),
        ({"headers": {"X Frame": "DENY"}}, "key 'headers' is {'X Frame': 'DENY'}"),
        ({"headers": {"Content-Security-Policy": 'default-src "self"'}}, "no double quotes"),
        ({"headers": ["X-Frame-Options"]}, "key 'headers' is ['X-Frame-Options']"),
        ({"static_dir": "../etc"}, "key 'static_dir' is '../etc'"),
        ({"tls": "letsencrypt"}, "key 'tls' is 'letsencrypt'; allowed: 'edge'"),
        ({"tls": "acme"}, "key 'tls' is 'acme' but server_names has _: the HTTP-01"),
        ({"tls": "acme", "server_names": ["shop.example", "192.0.2.7"]}, "server_names has 192.0.2.7:"),
        ({"tls": "acme", "server_names": ["*.shop.example"]}, "server_names has *.shop.example:"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_app_and_the_key(changes: dict, words: str) -> None:
    errors = flask_app_errors(entry(**changes))
    assert any(words in error for error in errors), errors


def test_acme_takes_dns_names() -> None:
    assert flask_app_errors(entry(tls="acme", server_names=["shop.example", "www.shop.example"])) == []


def test_missing_required_keys_are_named() -> None:
    errors = flask_app_errors({"name": "billing"})
    assert errors == ["flask_apps: app 'billing': missing key(s) source, wsgi_app, secret_key; they are required"]


def test_defaults_are_filled_in() -> None:
    settings = flask_app_settings(GOOD, "/inv/locks/billing")
    assert settings["source_kind"] == "package"
    assert settings["package"] == "billing"
    assert settings["server_names"] == ["_"]
    assert settings["lock_dir"] == "/inv/locks/billing"
    assert settings["static_dir"] == "static"
    assert settings["static_required"] is False
    assert settings["health"] == {"path": "/healthz", "status": 200, "timeout": 60}


def test_an_explicit_static_dir_is_required_to_exist() -> None:
    assert flask_app_settings(entry(static_dir="assets"))["static_required"] is True


@pytest.mark.parametrize(
    ("apps", "words"),
    [
        ([GOOD, GOOD], "app 'billing': key 'name' is used by more than one app"),
        (
            [entry(server_names=["_"]), entry(name="shop", server_names=["_"])],
            "app 'shop': key 'server_names' claims '_', already app 'billing''s",
        ),
        ([], "flask_apps is []"),
    ],
)
def test_rules_between_apps(apps: list, words: str) -> None:
    assert any(words in error for error in flask_apps_errors(apps))


def test_distinct_apps_pass_the_rules_between_apps() -> None:
    assert flask_apps_errors([entry(server_names=["a.test"]), entry(name="shop", server_names=["b.test"])]) == []


def test_platform_tags_follow_the_hosts_glibc() -> None:
    tags = manylinux_platforms("glibc 2.36", "x86_64")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert tags[-2:] == ["manylinux_2_17_x86_64", "manylinux2014_x86_64"]
    assert "manylinux_2_37_x86_64" not in tags
    with pytest.raises(ValueError, match="glibc"):
        manylinux_platforms("musl libc", "x86_64")


def test_lock_target_names_the_hosts_python() -> None:
    assert flask_app_lock_target("3.13", "/locks/app", "-gevent") == {
        "python": "3.13",
        "lock": "/locks/app/py3.13-gevent.txt",
    }


def test_build_targets_are_distinct_and_only_this_apps() -> None:
    mine = {"app": "billing", "python": "3.11", "lock": "/l/py3.11.txt", "platforms": ["p"]}
    newer = {**mine, "python": "3.13", "lock": "/l/py3.13.txt"}
    other = {**mine, "app": "shop"}
    hosts = [{"__flask_app_target": t} for t in (mine, mine, newer, other)] + [{}]
    assert flask_app_build_targets(hosts, "billing") == [mine, newer]


def _went_live(release: str, previous: str = "") -> dict:
    return {"release": release, "result": "live", "previous": previous}


def test_pruning_keeps_the_newest_live_ones_by_the_record_not_by_dates() -> None:
    installed = [f"/opt/a/releases/r{n}" for n in range(1, 6)]
    record = [_went_live("r1"), _went_live("r2", "r1"), _went_live("r3", "r2"), _went_live("r4", "r3")]
    assert flask_app_prunable(installed, record, 2) == [
        "/opt/a/releases/r1",
        "/opt/a/releases/r2",
        "/opt/a/releases/r5",
    ]


def test_pruning_never_removes_the_live_or_the_previous_live_release() -> None:
    installed = [f"/opt/a/releases/r{n}" for n in range(1, 5)]
    # Deployed r1..r4, then rolled back to r1: r1 is live, r4 the previous.
    record = [_went_live(f"r{n}", f"r{n - 1}") for n in range(1, 5)] + [_went_live("r1", "r4")]
    assert flask_app_prunable(installed, record, 1) == ["/opt/a/releases/r2", "/opt/a/releases/r3"]
    assert flask_app_live(record) == {"release": "r1", "result": "live", "previous": "r4"}


def test_failed_releases_do_not_count_against_keep() -> None:
    installed = [f"/opt/a/releases/{name}" for name in ("good1", "good2", "bad1", "bad2")]
    record = [
        _went_live("good1"),
        _went_live("good2", "good1"),
        {"release": "bad1", "result": "failed", "previous": "good2"},
        {"release": "bad2", "result": "failed", "previous": "good2"},
    ]
    assert flask_app_prunable(installed, record, 2) == ["/opt/a/releases/bad1", "/opt/a/releases/bad2"]
    assert flask_app_live(record)["release"] == "good2"
    assert flask_app_live([]) == {}


def test_the_readme_table_lists_every_key_of_an_app_entry() -> None:
    readme = (Path(__file__).parents[1] / "roles/flask_app/README.md").read_text()
    table = readme.split("## An app entry", 1)[1].split("\n## ", 1)[0]
    documented = {re.sub(r"\..*", "", key) for key in re.findall(r"^\| `([\w.]+)` \|", table, re.MULTILINE)}
    assert documented == set(DEFAULTS)


HEALTH = {"path": "/healthz", "status": 200, "timeout": 60}


@pytest.mark.parametrize(
    ("result", "healthy"),
    [
        ({"status": 200, "json": {"status": "ok", "release": "2.0-abc"}}, True),
        ({"status": 200, "content": "OK"}, True),  # no release reported: the status decides
        ({"status": 200, "json": {"release": "1.0-old"}}, False),  # an old worker answered
        ({"status": 500, "json": {"release": "2.0-abc"}}, False),
        ({"status": -1, "msg": "Connection refused"}, False),
    ],
)
def test_a_release_is_healthy_when_it_answers_the_status_and_names_itself(result, healthy) -> None:
    assert flask_app_healthy(result, HEALTH, "2.0-abc") is healthy


def test_a_failed_health_check_is_told_in_one_line() -> None:
    assert flask_app_health_detail({"status": 500, "content": "<h1>Internal\n Error</h1>"}) == (
        "status 500, body '<h1>Internal Error</h1>'"
    )
    assert flask_app_health_detail({"status": -1, "msg": "Status code was -1: Connection refused"}) == (
        "no answer (Status code was -1: Connection refused)"
    )
