"""Configuration comes from the environment and has no secret by default."""

from __future__ import annotations

import time

import pytest

from sample_app import create_app
from sample_app.config import ConfigError


def test_refuses_to_start_without_a_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="FLASK_SECRET_KEY"):
        create_app()


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-env")
    monkeypatch.setenv("FLASK_RELEASE", "1.2.3-abc")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["RELEASE"] == "1.2.3-abc"


def test_logs_go_to_stdout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-env")
    create_app().logger.warning("hello journald")
    assert "hello journald" in capsys.readouterr().out


def test_start_delay_slows_the_boot_only_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-env")
    started = time.monotonic()
    create_app()
    assert time.monotonic() - started < 0.5
    monkeypatch.setenv("FLASK_START_DELAY", "0.6")
    started = time.monotonic()
    assert create_app().config["START_DELAY"] == 0.6
    assert time.monotonic() - started >= 0.6
