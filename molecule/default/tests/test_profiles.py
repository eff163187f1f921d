"""Each Gunicorn profile shows its size in the process table.

The inventory runs the guestbook on gthread and the sample app on sync. The
gevent profile is tested in test_tls.py, whose converge runs the sample app
on it (one converge fewer). An app's CPUs are its cpu_weight share of the
host's.
"""

import math
import threading

from conftest import GUESTBOOK, HOSTS, app_cpus, http_get, settled_workers


def test_gthread_runs_cpus_plus_one_workers_of_four_threads(host, address, facts):
    expected = math.ceil(app_cpus(facts, GUESTBOOK)) + 1
    pids = settled_workers(host, expected, app=GUESTBOOK)
    assert len(pids) == expected
    # Threads start on demand: keep every thread of every worker busy, then count.
    busy = [
        threading.Thread(
            target=http_get, args=(f"http://{address}/wait/3000",), kwargs={"timeout": 30, "host": HOSTS[GUESTBOOK]}
        )
        for _ in range(expected * 4 * 2)
    ]
    for request in busy:
        request.start()
    threads = []
    for _ in range(20):
        threads = [int(host.check_output(f"ps --no-headers -o nlwp -p {pid}")) for pid in pids]
        if max(threads) >= 5:
            break
    for request in busy:
        request.join()
    print(f"\n[gthread] {len(pids)} workers, threads per worker under load: {threads}")
    # One main thread and at most four request threads per worker.
    assert max(threads) == 4 + 1
