"""Fixtures: an app built from test configuration, and its test client."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from sample_app import create_app


@pytest.fixture
def app() -> Flask:
    return create_app({"TESTING": True, "SECRET_KEY": "test-only", "RELEASE": "r-test"})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
