"""HTTP endpoints: a JSON index, a health check and an upload sink."""

from __future__ import annotations

import os
import socket
import time

from flask import Blueprint, abort, current_app, request

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> dict[str, str]:
    """Greet, and show what the app sees of the client through the proxy."""
    return {
        "message": "Hello from the Flask deployment kit",
        "client": request.remote_addr or "",
        "scheme": request.scheme,
    }


@bp.get("/healthz")
def healthz() -> dict[str, str | int]:
    """Say which release and which worker answered, for checks and deploys."""
    return {
        "status": "ok",
        "release": str(current_app.config["RELEASE"]),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


@bp.post("/echo")
def echo() -> dict[str, int]:
    """Accept a request body and report its size (forms, uploads, tests)."""
    return {"bytes": len(request.get_data())}


@bp.get("/sleep/<int:ms>")
def sleep(ms: int) -> dict[str, int]:
    """Hold the worker for ``ms`` milliseconds (at most 10 s): a slow request on demand.

    Only with TEST_ENDPOINTS on: the kit's tests use it to see threads, timeouts
    and graceful restarts; in production it would be a free way to tie up workers.
    """
    if not current_app.config.get("TEST_ENDPOINTS"):
        abort(404)
    time.sleep(min(ms, 10_000) / 1000)
    return {"slept_ms": min(ms, 10_000)}


@bp.get("/headers")
def headers() -> dict[str, str]:
    """Echo the request headers the app received (TEST_ENDPOINTS only).

    Lets the kit's tests see which forwarded headers the proxy passes on.
    """
    if not current_app.config.get("TEST_ENDPOINTS"):
        abort(404)
    return dict(request.headers)
