"""The services are up now and come back after a reboot."""

import pytest
from conftest import APPS, live_slot


def test_nginx_is_enabled_and_running(host):
    assert host.service("nginx.service").is_enabled
    assert host.service("nginx.service").is_running


@pytest.mark.parametrize("app", APPS)
def test_only_the_live_slot_is_enabled_and_running(host, app):
    live = live_slot(host, app)
    idle = {"blue": "green", "green": "blue"}[live]
    for kind in ("socket", "service"):
        assert host.service(f"{app}@{live}.{kind}").is_enabled
        assert host.service(f"{app}@{live}.{kind}").is_running
        assert not host.service(f"{app}@{idle}.{kind}").is_enabled
        assert not host.service(f"{app}@{idle}.{kind}").is_running
