"""The services are up now and come back after a reboot."""

import pytest
from conftest import APPS


@pytest.mark.parametrize(
    "unit", [f"{app}.{kind}" for app in APPS for kind in ("socket", "service")] + ["nginx.service"]
)
def test_unit_is_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running
