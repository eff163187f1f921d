"""HTTP endpoints: a JSON index, a health check and an upload sink."""

from __future__ import annotations

import os
import socket

from flask import Blueprint, current_app, request

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
