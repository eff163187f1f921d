"""The gunicorn role's sizing rule over a table of hosts."""

from __future__ import annotations

import pytest
from gunicorn_sizing import cgroup_limits, wrk_figures
from gunicorn_sizing import gunicorn_sizing as size
from gunicorn_sizing import gunicorn_tune_grid as tune_grid
from gunicorn_sizing import gunicorn_tune_key as tune_key
from gunicorn_sizing import gunicorn_tune_pick as tune_pick

GIB = 1024


@pytest.mark.parametrize(
    ("profile", "nproc", "memory_mb", "workers", "threads"),
    [
        ("sync", 1, 2 * GIB, 3, 1),
        ("sync", 2, 2 * GIB, 5, 1),
        ("sync", 4, 8 * GIB, 9, 1),
        ("sync", 8, 8 * GIB, 17, 1),
        ("sync", 16, 8 * GIB, 32, 1),  # 33 by the rule, capped at max_workers
        ("gthread", 1, 2 * GIB, 2, 4),
        ("gthread", 4, 8 * GIB, 5, 4),
        ("gthread", 64, 8 * GIB, 32, 4),
        ("gevent", 1, 2 * GIB, 2, 1),  # floor of two
        ("gevent", 8, 8 * GIB, 8, 1),
    ],
)
def test_profile_rules(profile, nproc, memory_mb, workers, threads):
    result = size(profile, nproc, memory_mb)
    assert (result["worker_class"], result["workers"], result["threads"]) == (profile, workers, threads)


def test_gevent_gets_many_connections_per_worker():
    assert size("gevent", 4, 8 * GIB)["worker_connections"] == 1000
    assert size("gevent", 4, 8 * GIB, gevent_connections=250)["worker_connections"] == 250


def test_one_cpu_still_gets_two_workers():
    assert size("sync", 1, 8 * GIB)["workers"] == 3
    assert size("gevent", 1, 8 * GIB)["workers"] == 2


def test_tiny_memory_caps_workers_but_never_below_two():
    # 1 GiB - 256 reserve = 768 MiB, 384 for each slot: three 100 MiB workers fit.
    assert size("sync", 8, 1024)["workers"] == 3
    # Nothing fits: the floor still wins, so a recycling worker never leaves zero.
    result = size("sync", 8, 128)
    assert result["workers"] == 2
    assert result["memory_cap"] == 0
    assert "floor" in result["reason"]


def test_memory_cap_applies_before_the_floor():
    result = size("sync", 16, 2 * GIB)  # (2048 - 256) // 2 slots // 100 = 8
    assert result["workers"] == 8
    assert "memory" in result["reason"]


def test_memory_holds_both_slots_during_a_switch():
    # The old and the new slot run together: each gets half the app's memory.
    assert size("sync", 16, 2 * GIB, slots=1)["workers"] == 17
    two = size("sync", 16, 2 * GIB)
    assert two["workers"] == 8
    assert 2 * two["workers"] * 100 <= 2048 - 256


def test_huge_cpu_counts_are_capped():
    assert size("sync", 256, 512 * GIB)["workers"] == 32
    assert size("sync", 256, 512 * GIB, max_workers=200)["workers"] == 200


def test_cpu_quota_smaller_than_cpus_wins():
    result = size("sync", 16, 8 * GIB, cpu_quota=1.5)
    assert result["cpus"] == 1.5
    assert result["workers"] == 4  # int(2 * 1.5) + 1
    assert size("gthread", 16, 8 * GIB, cpu_quota=1.5)["workers"] == 3


def test_quota_larger_than_cpus_changes_nothing():
    assert size("sync", 2, 8 * GIB, cpu_quota=8)["workers"] == 5


@pytest.mark.parametrize("quota", [None, 0, -1])
def test_no_quota(quota):
    assert size("sync", 4, 8 * GIB, cpu_quota=quota)["cpus"] == 4


def test_fractional_quota_below_one_cpu():
    assert size("sync", 4, 8 * GIB, cpu_quota=0.25)["workers"] == 2


def test_cgroup_memory_limit_lower_than_ram_wins():
    assert size("sync", 8, 64 * GIB, memory_limit_mb=512)["workers"] == 2


def test_explicit_values_win_over_rules_and_caps():
    result = size("gthread", 1, 256, workers=12, threads=8, worker_connections=50)
    assert (result["workers"], result["threads"], result["worker_connections"]) == (12, 8, 50)
    assert result["reason"] == "set explicitly"


def test_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="sync, gthread, gevent"):
        size("turbo", 2, 2 * GIB)


def test_nonsense_facts_are_refused():
    with pytest.raises(ValueError, match="nproc"):
        size("sync", 0, 2 * GIB)
    with pytest.raises(ValueError, match="worker_memory_mb"):
        size("sync", 2, 2 * GIB, worker_memory_mb=0)


V1_QUOTA = "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"
V1_PERIOD = "/sys/fs/cgroup/cpu/cpu.cfs_period_us"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"/sys/fs/cgroup/cpu.max": "max 100000\n", "/sys/fs/cgroup/memory.max": "max\n"}, (None, None)),
        ({"/sys/fs/cgroup/cpu.max": "150000 100000\n"}, (1.5, None)),
        ({"/sys/fs/cgroup/memory.max": "536870912\n"}, (None, 512)),
        ({V1_QUOTA: "-1", V1_PERIOD: "100000"}, (None, None)),
        ({V1_QUOTA: "50000", V1_PERIOD: "100000"}, (0.5, None)),
        ({"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, (None, None)),
        ({}, (None, None)),
    ],
)
def test_cgroup_limits(files, expected):
    limits = cgroup_limits(files)
    assert (limits["cpu_quota"], limits["memory_limit_mb"]) == expected


WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8089/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.21ms    2.10ms  40.12ms   90.00%
  Latency Distribution
     50%    4.80ms
     75%    5.90ms
     90%    7.20ms
     99%    1.20s
  5980 requests in 2.00s, 1.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2990.12
Transfer/sec:    561.00KB
"""


def test_wrk_figures_read_throughput_percentiles_and_every_error():
    assert wrk_figures(WRK_OUTPUT) == {
        "requests_per_second": 2990.12,
        "p50_ms": 4.8,
        "p99_ms": 1200.0,
        "requests": 5980,
        "errors": 4 + 2 + 1,
    }


def test_wrk_figures_refuse_what_is_not_wrk_output():
    with pytest.raises(ValueError, match="not wrk's output"):
        wrk_figures("unable to connect to 127.0.0.1:8089 Connection refused")


HOST = {"nproc": 2, "memory_mb": 4096}


def test_tune_grid_defaults_to_the_rules_counts_around_the_cpus():
    grid = tune_grid(size("sync", **HOST), ["sync", "gthread"], [], [4, 16], **HOST)
    counts = sorted({p["workers"] for p in grid["points"]})
    assert counts == [2, 3, 5, 8]  # CPUs, CPUs + 1, 2 x CPUs + 1, 4 x CPUs
    assert len(grid["points"]) == 4 + 4 * 2  # threads only for gthread
    assert {p["threads"] for p in grid["points"] if p["profile"] == "sync"} == {1}
    assert grid["skipped"] == []


def test_tune_grid_skips_what_does_not_fit_in_memory():
    small = {"nproc": 2, "memory_mb": 1024}
    grid = tune_grid(size("sync", **small), ["sync"], [2, 3, 9], [4], worker_memory_mb=100, **small)
    # (1024 - 256 reserve) / 2 slots / 100 MiB: 3 workers fit.
    assert [p["workers"] for p in grid["points"]] == [2, 3]
    assert grid["skipped"] == [
        {"profile": "sync", "workers": 9, "threads": 1, "why": "3 workers fit in one slot's memory"}
    ]
    assert all(p["memory_max_mb"] >= (p["workers"] + 2) * 100 for p in grid["points"])


def run(rps, p99, errors=0):
    return {"requests_per_second": rps, "p50_ms": p99 / 2, "p99_ms": p99, "requests": 100, "errors": errors}


def point(profile, workers, threads=1):
    return {"profile": profile, "workers": workers, "threads": threads, "memory_max_mb": 1000}


def test_tune_pick_takes_the_fastest_mean_within_the_target_without_errors():
    points = [point("sync", 5), point("gthread", 3, 16), point("gthread", 3, 4), point("sync", 9)]
    runs = {
        "sync 5x1": [run(100, 50), run(110, 60)],
        "gthread 3x16": [run(900, 80), run(700, 90)],  # mean 800
        "gthread 3x4": [run(850, 300)],  # faster than the mean above, but misses the p99 target
        "sync 9x1": [run(2000, 10, errors=3)],  # fastest, but failed requests
    }
    chosen = tune_pick(points, runs, 250)
    assert tune_key(chosen["pick"]) == "gthread 3x16"
    assert chosen["pick"]["requests_per_second"] == 800
    assert chosen["pick"]["p99_ms"] == 90
    assert chosen["pick_vs_best"] == round(800 / 900, 3)
    assert [row["qualifies"] for row in chosen["points"]] == [True, True, False, False]


def test_tune_pick_says_how_close_the_grid_came_when_nothing_qualifies():
    chosen = tune_pick([point("sync", 5), point("sync", 9)], {"sync 5x1": [run(100, 700)]}, 250)
    assert chosen["pick"] is None
    assert chosen["best_p99_ms"] == 700
    assert len(chosen["points"]) == 1  # the point not measured is left out


def test_tune_grid_never_goes_below_the_floor_of_two_workers_and_sizes_gevent_connections():
    one_cpu = {"nproc": 1, "memory_mb": 4096}
    grid = tune_grid(size("sync", **one_cpu), ["sync", "gevent"], [], [4], **one_cpu)
    assert sorted({p["workers"] for p in grid["points"]}) == [2, 3, 4]  # not 1: CPUs, CPUs + 1, 2 x CPUs + 1, 4 x CPUs
    assert {p["worker_connections"] for p in grid["points"] if p["profile"] == "gevent"} == {1000}
