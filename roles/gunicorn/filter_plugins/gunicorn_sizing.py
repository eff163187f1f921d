"""Gunicorn sizing from a host's CPUs and memory, and the empirical tuner's filters.

``gunicorn_sizing`` applies the rule; ``gunicorn_tune_grid``, ``wrk_figures``
and ``gunicorn_tune_pick`` serve the tuner (tasks/tune.yml), which measures.

The rule of thumb (2 x CPUs + 1 sync workers) assumes every CPU the host
reports is usable and that memory is plentiful. Neither holds on a container
with a CPU quota or a small VM, so the rule is applied to the CPUs the
service may really use, then capped by memory, with a floor of two workers
so that one crashed or recycling worker never leaves the host with none.

Several apps share a host: each is sized from its ``share`` of the CPUs
(never below one) and of the memory, and systemd's ``MemoryMax=`` holds it
to that share so one app's leak cannot starve the others. Each app runs in
two slots (blue and green) and both run at once while a deploy switches
between them, so an app's memory is split between its ``slots``: one app
switching at a time, the host's memory is never overcommitted.
"""

from __future__ import annotations

import base64
import math
import re
import statistics
from dataclasses import asdict, dataclass

PROFILES = ("sync", "gthread", "gevent")
MIN_WORKERS = 2


@dataclass(frozen=True)
class Sizing:
    """What gunicorn.conf.py is written with, and why."""

    worker_class: str
    workers: int
    threads: int
    worker_connections: int
    cpus: float
    memory_cap: int
    memory_max_mb: int
    reason: str


def usable_cpus(nproc: int, cpu_quota: float | None = None) -> float:
    """CPUs the service can use: the affinity count, lowered by a cgroup quota.

    ``cpu_quota`` is in CPUs (quota / period), e.g. 1.5; None or <= 0 means none.
    """
    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    if cpu_quota is None or cpu_quota <= 0:
        return float(nproc)
    return min(float(nproc), float(cpu_quota))


def memory_cap(memory_mb: int, worker_memory_mb: int, reserve_mb: int) -> int:
    """Workers that fit in memory after the reserve for the OS, Nginx and the master."""
    if worker_memory_mb < 1:
        raise ValueError(f"worker_memory_mb must be at least 1, got {worker_memory_mb}")
    return max(0, (memory_mb - reserve_mb) // worker_memory_mb)


def gunicorn_sizing(
    profile: str,
    nproc: int,
    memory_mb: int,
    cpu_quota: float | None = None,
    memory_limit_mb: int | None = None,
    share: float = 1.0,
    max_workers: int = 32,
    worker_memory_mb: int = 100,
    memory_reserve_mb: int = 256,
    threads_per_worker: int = 4,
    gevent_connections: int = 1000,
    slots: int = 2,
    workers: int | None = None,
    threads: int | None = None,
    worker_connections: int | None = None,
) -> dict:
    """Size Gunicorn for one host; explicit ``workers``/``threads``/``worker_connections`` win.

    - sync: 2 x CPUs + 1 processes, one request each (CPU-bound apps behind a buffering proxy).
    - gthread: CPUs + 1 processes with ``threads_per_worker`` threads (I/O-bound apps).
    - gevent: one process per CPU, ``gevent_connections`` greenlets each (many slow or long-lived requests).

    ``share`` (above 0, at most 1) is this app's part of the host: its CPUs
    (never below one) and its part of the memory after the reserve, split
    between its ``slots`` (the old and the new release during a switch).
    """
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if not 0 < share <= 1:
        raise ValueError(f"share must be above 0 and at most 1, got {share}")
    cpus = max(1.0, usable_cpus(nproc, cpu_quota) * share) if share < 1 else usable_cpus(nproc, cpu_quota)
    memory = memory_mb if not memory_limit_mb or memory_limit_mb <= 0 else min(memory_mb, memory_limit_mb)
    if slots < 1:
        raise ValueError(f"slots must be at least 1, got {slots}")
    # One slot's part: the memory a slot may use while the other runs too.
    budget = int(max(0, memory - memory_reserve_mb) * share) // slots
    cap = memory_cap(budget + memory_reserve_mb, worker_memory_mb, memory_reserve_mb)

    by_cpu = {
        "sync": int(2 * cpus) + 1,
        "gthread": math.ceil(cpus) + 1,
        "gevent": math.ceil(cpus),
    }[profile]

    if workers is not None:
        count, reason = workers, "set explicitly"
    else:
        count, reason = by_cpu, f"{profile} rule for {cpus:g} CPUs"
        if count > max_workers:
            count, reason = max_workers, f"capped at max_workers {max_workers}"
        if count > cap:
            count, reason = (
                cap,
                (
                    f"capped by memory: ({memory} MiB - {memory_reserve_mb} reserve) x {share:.2g} share"
                    f" / {slots} slots / {worker_memory_mb} MiB per worker"
                ),
            )
        if count < MIN_WORKERS:
            count, reason = MIN_WORKERS, f"raised to the floor of {MIN_WORKERS}"

    default_threads = threads_per_worker if profile == "gthread" else 1
    default_connections = gevent_connections if profile == "gevent" else 1000
    return asdict(
        Sizing(
            worker_class=profile,
            workers=count,
            threads=threads if threads is not None else default_threads,
            worker_connections=worker_connections if worker_connections is not None else default_connections,
            cpus=round(cpus, 2),
            memory_cap=cap,
            # The master and one worker more than sized, so a recycling
            # worker's successor can start before the old one is gone.
            memory_max_mb=max(budget, (count + 2) * worker_memory_mb),
            reason=reason,
        )
    )


def cgroup_limits(files: dict[str, str]) -> dict:
    """CPU quota (in CPUs) and memory limit (MiB) from cgroup files, path -> content.

    Reads cgroup v2 (cpu.max, memory.max) and v1 (cpu.cfs_quota_us with
    cpu.cfs_period_us, memory.limit_in_bytes). "max", -1 or an absurd v1
    memory limit mean no limit, returned as None.
    """
    cpu_quota: float | None = None
    memory_limit_mb: int | None = None
    by_name = {path.rsplit("/", 1)[-1]: content.strip() for path, content in files.items()}

    if "cpu.max" in by_name:
        quota, _, period = by_name["cpu.max"].partition(" ")
        if quota != "max" and period:
            cpu_quota = int(quota) / int(period)
    elif "cpu.cfs_quota_us" in by_name and "cpu.cfs_period_us" in by_name:
        quota_us = int(by_name["cpu.cfs_quota_us"])
        if quota_us > 0:
            cpu_quota = quota_us / int(by_name["cpu.cfs_period_us"])

    raw = by_name.get("memory.max") or by_name.get("memory.limit_in_bytes")
    if raw and raw != "max" and int(raw) < 2**62:
        memory_limit_mb = int(raw) // (1024 * 1024)
    return {"cpu_quota": cpu_quota, "memory_limit_mb": memory_limit_mb}


def cgroup_limits_from_slurp(results: list[dict]) -> dict:
    """Run ``cgroup_limits`` on the results of a looped ``slurp`` (files that exist only)."""
    files = {r["item"]: base64.b64decode(r["content"]).decode() for r in results if "content" in r}
    return cgroup_limits(files)


def gunicorn_role_arguments(settings: dict) -> dict:
    """Name an instance's settings as the role's variables (profile -> gunicorn_profile), to check them by its spec."""
    return {f"gunicorn_{name}": value for name, value in settings.items()}


def gunicorn_tune_grid(
    sizing: dict,
    profiles: list[str],
    workers: list[int],
    threads: list[int],
    **size_inputs: float | int | None,
) -> dict:
    """List the tuner's points: each profile x workers (x threads, for gthread) that fits the memory budget.

    ``sizing`` is the app's own sizing (gunicorn_sizing for its profile): an
    empty ``workers`` means CPUs, CPUs + 1, 2 x CPUs + 1 and 4 x CPUs of its
    CPUs, never below the floor of two workers. ``size_inputs`` are gunicorn_sizing's host inputs: each point is
    sized with its workers and threads set, for its MemoryMax and the number
    of workers that fit in one slot's memory. Returns the points and the
    skipped ones with why.
    """
    cpus = max(1, math.ceil(sizing["cpus"]))
    counts = sorted(set(workers or [max(MIN_WORKERS, n) for n in (cpus, cpus + 1, 2 * cpus + 1, 4 * cpus)]))
    points, skipped = [], []
    for profile in profiles:
        for count in counts:
            for thread_count in sorted(set(threads)) if profile == "gthread" else [1]:
                size = gunicorn_sizing(profile, workers=count, threads=thread_count, **size_inputs)
                point = {"profile": profile, "workers": count, "threads": thread_count}
                if count > size["memory_cap"]:
                    skipped.append({**point, "why": f"{size['memory_cap']} workers fit in one slot's memory"})
                    continue
                points.append(
                    {**point, "worker_connections": size["worker_connections"], "memory_max_mb": size["memory_max_mb"]}
                )
    return {"points": points, "skipped": skipped}


WRK_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk_figures(output: str) -> dict:
    """Throughput, p50 and p99 (ms), requests and errors (socket errors and non-2xx/3xx) from ``wrk --latency``."""

    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not found:
            raise ValueError(f"no {percent}% latency in wrk's output: {output[-300:]!r}")
        return round(float(found.group(1)) * WRK_UNITS[found.group(2)], 3)

    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if not rate or not count:
        raise ValueError(f"not wrk's output: {output[-300:]!r}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_second": float(rate.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(count.group(1)),
        "errors": (int(failed.group(1)) if failed else 0) + (sum(map(int, sockets.groups())) if sockets else 0),
    }


def gunicorn_tune_key(point: dict) -> str:
    """Name a grid point, e.g. "gthread 3x16": the key of its runs."""
    return f"{point['profile']} {point['workers']}x{point['threads']}"


def gunicorn_tune_pick(points: list[dict], runs: dict[str, list[dict]], p99_ms: float) -> dict:
    """Choose among the grid's ``points`` by their ``runs`` (wrk_figures, by gunicorn_tune_key).

    A point qualifies when none of its runs failed a request and its worst
    p99 meets ``p99_ms``; the pick is the qualifying point with the highest
    mean throughput. ``pick_vs_best`` compares it with the best single run
    of any qualifying point; ``best_p99_ms`` says how close the grid came
    when none qualifies. Points not measured are left out.
    """
    rows, best = [], 0.0
    for point in points:
        measured = runs.get(gunicorn_tune_key(point), [])
        if not measured:
            continue
        row = {
            **point,
            "requests_per_second": round(statistics.fmean(run["requests_per_second"] for run in measured), 1),
            "p50_ms": round(statistics.median(run["p50_ms"] for run in measured), 3),
            "p99_ms": max(run["p99_ms"] for run in measured),
            "errors": sum(run["errors"] for run in measured),
            "runs": len(measured),
        }
        row["qualifies"] = row["errors"] == 0 and row["p99_ms"] <= p99_ms
        if row["qualifies"]:
            best = max(best, *(run["requests_per_second"] for run in measured))
        rows.append(row)
    qualifying = [row for row in rows if row["qualifies"]]
    if not qualifying:
        return {"pick": None, "points": rows, "best_p99_ms": min((row["p99_ms"] for row in rows), default=None)}
    pick = max(qualifying, key=lambda row: row["requests_per_second"])
    return {"pick": pick, "points": rows, "pick_vs_best": round(pick["requests_per_second"] / best, 3)}


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict:
        """Map filter names to functions."""
        return {
            "gunicorn_sizing": gunicorn_sizing,
            "cgroup_limits": cgroup_limits,
            "cgroup_limits_from_slurp": cgroup_limits_from_slurp,
            "gunicorn_role_arguments": gunicorn_role_arguments,
            "gunicorn_tune_grid": gunicorn_tune_grid,
            "gunicorn_tune_key": gunicorn_tune_key,
            "gunicorn_tune_pick": gunicorn_tune_pick,
            "wrk_figures": wrk_figures,
        }
