"""A bounded stream of GET requests from a few clients: the benchmarks' load for deploys and slow-client runs.

Standard library only, so it runs here (deploy.py imports it) and inside
the demo VM, fed on standard input:
    python3 - URL SECONDS CLIENTS INTERVAL TIMEOUT
prints the (seconds, status) of every request as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def stream(
    url: str,
    until: Callable[[], bool],
    clients: int = 4,
    interval: float = 0.1,
    timeout: float = 30.0,
    max_seconds: float = 300.0,
) -> list[tuple[float, int]]:
    """GET ``url`` from ``clients`` threads, one request per ``interval`` s each, until ``until()`` or ``max_seconds``.

    Returns (seconds, status) per request; status 0 when no answer came.
    """
    lock = threading.Lock()
    answers: list[tuple[float, int]] = []
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        while not until() and time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(url, timeout=timeout) as reply:
                    reply.read()
                    status = reply.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = 0
            with lock:
                answers.append((time.monotonic() - sent, status))
            time.sleep(max(0.0, interval - (time.monotonic() - sent)))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


if __name__ == "__main__":
    url, seconds, clients, interval, timeout = sys.argv[1:6]
    end = time.monotonic() + float(seconds)
    print(json.dumps(stream(url, lambda: time.monotonic() > end, int(clients), float(interval), float(timeout))))
