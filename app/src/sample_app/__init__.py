"""Sample Flask application deployed by the kit.

Gunicorn loads it with ``sample_app:create_app()``; every setting comes from
``FLASK_*`` environment variables, which the kit writes to an environment
file on the host.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from sample_app.config import load_config
from sample_app.logs import log_to_stdout
from sample_app.views import bp


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``test_config`` replaces the environment in tests."""
    app = Flask(__name__)
    load_config(app, test_config)
    log_to_stdout(app)
    # FLASK_START_DELAY=3: boot like an app with a slow import or warm-up
    # (off by default); the kit's deploy tests and benchmark use it.
    time.sleep(min(float(app.config.get("START_DELAY", 0)), 600))
    # Nginx is the one proxy in front: trust one hop of X-Forwarded-*.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.register_blueprint(bp)
    return app
