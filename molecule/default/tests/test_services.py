"""The services are up now and come back after a reboot."""

import pytest


@pytest.mark.parametrize("unit", ["gunicorn.socket", "gunicorn.service", "nginx.service"])
def test_unit_is_enabled_and_running(host, unit):
    service = host.service(unit)
    assert service.is_enabled
    assert service.is_running
