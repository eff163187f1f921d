"""Configuration from the environment, with no usable secret by default."""

from __future__ import annotations

from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "RELEASE": "unknown",
    # Seconds create_app() waits before it returns (a slow boot, for tests).
    "START_DELAY": 0,
    # Requests larger than this are refused by Flask even if a proxy lets them by.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
}


class ConfigError(RuntimeError):
    """Raised when the app cannot start safely with the configuration given."""


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill ``app.config`` from FLASK_* variables, or from ``test_config``.

    A missing SECRET_KEY stops the app instead of falling back to a literal:
    a guessable key lets anyone forge session cookies.
    """
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        app.config.from_prefixed_env()
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        raise ConfigError("FLASK_SECRET_KEY is not set; the app refuses to start without a secret key")
