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


def _work_ms() -> int:
    """Read the ``ms`` query parameter of the /work endpoints (0 to 10,000); 404 without TEST_ENDPOINTS."""
    if not current_app.config.get("TEST_ENDPOINTS"):
        abort(404)
    return max(0, min(request.args.get("ms", 10, type=int) or 0, 10_000))


@bp.get("/work/cpu")
def work_cpu() -> dict[str, int]:
    """Compute for ``ms`` milliseconds of this thread's CPU time: a CPU-bound request (TEST_ENDPOINTS only).

    For the benchmarks (benchmarks/report.py): it holds the GIL, so only more
    processes, not more threads, serve more of these at once.
    """
    ms = _work_ms()
    end = time.thread_time() + ms / 1000
    rounds = 0
    while time.thread_time() < end:
        sum(i * i for i in range(1000))
        rounds += 1
    return {"cpu_ms": ms, "rounds": rounds}


@bp.get("/work/io")
def work_io() -> dict[str, int]:
    """Wait ``ms`` milliseconds as for a database or an API: an I/O-bound request (TEST_ENDPOINTS only)."""
    ms = _work_ms()
    time.sleep(ms / 1000)
    return {"io_ms": ms}


@bp.get("/headers")
def headers() -> dict[str, str]:
    """Echo the request headers the app received (TEST_ENDPOINTS only).

    Lets the kit's tests see which forwarded headers the proxy passes on.
    """
    if not current_app.config.get("TEST_ENDPOINTS"):
        abort(404)
    return dict(request.headers)
