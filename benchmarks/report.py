"""The benchmark report: Nginx's overhead, CPU-bound and I/O-bound scaling, with plots.

Not a test: it measures and writes figures. Run it with `make bench` (the
demo VM must be up, `make demo`). Everything runs inside the demo VM, on
its loopback: wrk (Debian's package, installed there if missing) drives a
second Gunicorn of the sample app with the service's own configuration on
127.0.0.1:8000 (a transient systemd unit, removed afterwards; the live
slots are not touched), directly or through Nginx. Each point is a wrk run
of --seconds (5 by default): bounded in time, and stopping by itself.

1. Nginx overhead: the app's index through Nginx (a server on
   127.0.0.1:8081 with the kit's proxy settings, written to conf.d for the
   run and removed after; without the per-address limits, which would
   answer most of one client's load with 429) against Gunicorn directly.
2. CPU-bound: /work/cpu?ms=N on sync workers from 1 to 4 x CPUs; where the
   kit's 2 x CPUs + 1 sits against the best.
3. I/O-bound: /work/io?ms=N on sync 2 x CPUs + 1, and on gthread with the
   kit's size (CPUs + 1 workers of 4 threads) and with 16 threads.

Every figure is a ratio or a distribution from this one run. It writes
benchmarks/results/<date>/: report.json (every figure), report.md and a
PNG plot per section, each with its one-line conclusion and the machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from slowloris import BENCH_UNIT, start_direct_gunicorn, vm_exec

PROJECT = Path(__file__).resolve().parents[1]
# wrk's figures are read as the tuner reads them (roles/gunicorn, tasks/tune.yml).
sys.path.insert(0, str(PROJECT / "roles/gunicorn/filter_plugins"))
from gunicorn_sizing import wrk_figures  # noqa: E402

DIRECT, PROXIED = "127.0.0.1:8000", "127.0.0.1:8081"
BENCH_SITE = "/etc/nginx/conf.d/kit-bench.conf"
# The kit's proxy settings (roles/nginx), to the bench Gunicorn.
NGINX_SITE = """\
upstream kit_bench {
    server 127.0.0.1:8000;
    keepalive 16;
}
server {
    listen 127.0.0.1:8081;
    access_log /var/log/nginx/kit-bench.access.log timed;
    location / {
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_buffering on;
        proxy_request_buffering on;
        proxy_pass http://kit_bench;
    }
}
"""


@dataclass
class Point:
    """One wrk run: throughput, latency percentiles (ms), and what failed."""

    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def wrk(vm: str, label: str, url: str, connections: int, seconds: int) -> Point:
    """Run wrk inside the VM against ``url`` and read its figures."""
    out = vm_exec(
        vm, "wrk", "--threads", "2", "--connections", str(connections), "--duration", f"{seconds}s",
        "--timeout", "10s", "--latency", url,
    )  # fmt: skip

    point = Point(label=label, **wrk_figures(out))
    print(f"  {label:<34}{point.requests_per_second:>10.0f} req/s  p50 {point.p50_ms:>8.2f} ms"
          f"  p99 {point.p99_ms:>8.2f} ms  errors {point.errors}")  # fmt: skip
    return point


def serve(vm: str, *options: str) -> None:
    """(Re)start the bench Gunicorn with these options and wait until it answers."""
    start_direct_gunicorn(vm, 8000, *options, environment=("FLASK_TEST_ENDPOINTS=true",))
    probe = f"import urllib.request; urllib.request.urlopen('http://{DIRECT}/healthz', timeout=2)"
    for _ in range(100):
        if subprocess.run(["docker", "exec", vm, "python3", "-c", probe], capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit(f"the bench Gunicorn did not answer on {DIRECT}")


def machine(vm: str) -> dict:
    """Read the VM's CPUs and memory, and the host's CPU model: what every plot states."""
    cpus = int(vm_exec(vm, "nproc"))
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", vm_exec(vm, "cat", "/proc/meminfo")).group(1))
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {"cpus": cpus, "memory_gib": round(mem_kib / 2**20, 1), "cpu_model": model.group(1) if model else "?"}


def nginx_overhead(vm: str, cpus: int, seconds: int) -> dict:
    serve(vm, "--workers", str(2 * cpus + 1), "--worker-class", "sync")
    vm_exec(vm, "sh", "-c", f"cat > {BENCH_SITE} <<'EOF'\n{NGINX_SITE}EOF\nnginx -t -q && systemctl reload nginx")
    try:
        time.sleep(1)
        direct = wrk(vm, "gunicorn direct", f"http://{DIRECT}/", 16, seconds)
        proxied = wrk(vm, "through nginx", f"http://{PROXIED}/", 16, seconds)
    finally:
        vm_exec(vm, "sh", "-c", f"rm -f {BENCH_SITE} && systemctl reload nginx", check=False)
    ratio = proxied.requests_per_second / direct.requests_per_second
    return {
        "points": [asdict(direct), asdict(proxied)],
        "throughput_ratio": round(ratio, 3),
        "p50_ratio": round(proxied.p50_ms / direct.p50_ms, 3),
        "p99_ratio": round(proxied.p99_ms / direct.p99_ms, 3),
        "conclusion": f"Through Nginx the app serves {ratio:.2f} x the requests of Gunicorn reached directly"
        f" (target >= 0.95), p99 {proxied.p99_ms / direct.p99_ms:.2f} x.",
    }


def cpu_bound(vm: str, cpus: int, seconds: int, ms: int) -> dict:
    points = []
    for workers in range(1, 4 * cpus + 1):
        serve(vm, "--workers", str(workers), "--worker-class", "sync")
        points.append({"workers": workers, **asdict(wrk(vm, f"sync x {workers}", f"http://{DIRECT}/work/cpu?ms={ms}",
                                                        max(16, 2 * workers), seconds))})  # fmt: skip
    one = points[0]["requests_per_second"]
    best = max(points, key=lambda p: p["requests_per_second"])
    rule = next(p for p in points if p["workers"] == 2 * cpus + 1)
    return {
        "endpoint_ms": ms,
        "points": points,
        "speedup_of_rule": round(rule["requests_per_second"] / one, 3),
        "rule_of_best": round(rule["requests_per_second"] / best["requests_per_second"], 3),
        "best_workers": best["workers"],
        "conclusion": f"2 x {cpus} + 1 = {2 * cpus + 1} sync workers serve {rule['requests_per_second'] / one:.2f} x"
        f" one worker (target >= 1.8) and {rule['requests_per_second'] / best['requests_per_second']:.2f} x the best"
        f" ({best['workers']} workers).",
    }


def io_bound(vm: str, cpus: int, seconds: int, ms: int) -> dict:
    gthread = ["--workers", str(cpus + 1), "--worker-class", "gthread", "--threads"]
    profiles = [
        (f"sync {2 * cpus + 1} workers", ["--workers", str(2 * cpus + 1), "--worker-class", "sync"]),
        (f"gthread {cpus + 1} x 4 threads", [*gthread, "4"]),
        (f"gthread {cpus + 1} x 16 threads", [*gthread, "16"]),
    ]
    points = []
    for label, options in profiles:
        serve(vm, *options)
        points.append(asdict(wrk(vm, label, f"http://{DIRECT}/work/io?ms={ms}", 128, seconds)))
    sync = points[0]
    best = max(points[1:], key=lambda p: p["requests_per_second"])
    return {
        "endpoint_ms": ms,
        "points": points,
        "best_over_sync": round(best["requests_per_second"] / sync["requests_per_second"], 3),
        "best_p99_over_sync": round(best["p99_ms"] / sync["p99_ms"], 3),
        "conclusion": f"For {ms} ms waits, {best['label']} serves"
        f" {best['requests_per_second'] / sync['requests_per_second']:.1f} x sync {2 * cpus + 1} workers,"
        f" at {best['p99_ms'] / sync['p99_ms']:.2f} x its p99.",
    }


def plot(figures: dict, facts: dict, out: Path) -> dict[str, str]:
    """One PNG per section, its conclusion and the machine under it; returns section -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stamp = f"{facts['cpus']} CPUs, {facts['memory_gib']} GiB ({facts['cpu_model']})"
    files = {}

    def save(name: str, fig: matplotlib.figure.Figure, section: dict) -> None:
        fig.text(0.01, 0.06, section["conclusion"], fontsize=8, wrap=True)
        fig.text(0.01, 0.01, f"Demo VM: {stamp}", fontsize=7, color="grey")
        fig.subplots_adjust(bottom=0.25)
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files[name.removesuffix(".png")] = name

    section = figures["nginx_overhead"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 4))
    labels = [p["label"] for p in section["points"]]
    left.bar(labels, [p["requests_per_second"] for p in section["points"]], color=["#888", "#2a7"])
    left.set_ylabel("requests/s")
    right.bar([f"{lab}\np50" for lab in labels] + [f"{lab}\np99" for lab in labels],
              [p["p50_ms"] for p in section["points"]] + [p["p99_ms"] for p in section["points"]],
              color=["#888", "#2a7"] * 2)  # fmt: skip
    right.set_ylabel("ms")
    right.tick_params(axis="x", labelsize=7)
    fig.suptitle("1. Nginx overhead: the app's index")
    save("1-nginx-overhead.png", fig, section)

    section = figures["cpu_bound"]
    fig, axis = plt.subplots(figsize=(8, 4))
    workers = [p["workers"] for p in section["points"]]
    axis.plot(workers, [p["requests_per_second"] for p in section["points"]], marker="o")
    axis.axvline(2 * facts["cpus"] + 1, color="#c33", linestyle="--", label="2 x CPUs + 1 (the kit's rule)")
    axis.set_xlabel("sync workers")
    axis.set_ylabel("requests/s")
    axis.legend()
    fig.suptitle(f"2. CPU-bound: /work/cpu?ms={section['endpoint_ms']}")
    save("2-cpu-bound.png", fig, section)

    section = figures["io_bound"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    labels = [p["label"].replace(" x ", "\nx ") for p in section["points"]]
    left.bar(labels, [p["requests_per_second"] for p in section["points"]], color="#27a")
    left.set_ylabel("requests/s")
    right.bar(labels, [p["p99_ms"] for p in section["points"]], color="#a72")
    right.set_ylabel("p99 ms")
    for axis in (left, right):
        axis.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"3. I/O-bound: /work/io?ms={section['endpoint_ms']}, 128 connections")
    save("3-io-bound.png", fig, section)
    return files


def markdown(figures: dict, facts: dict, files: dict[str, str], when: str) -> str:
    lines = [
        f"# Benchmark report, {when}",
        "",
        f"Demo VM: {facts['cpus']} CPUs, {facts['memory_gib']} GiB; host CPU {facts['cpu_model']}."
        " Load from wrk inside the VM, on loopback; every figure below is from this one run.",
        "",
    ]
    for key, title in (("nginx_overhead", "1. Nginx overhead"), ("cpu_bound", "2. CPU-bound scaling"),
                       ("io_bound", "3. I/O-bound profiles")):  # fmt: skip
        section = figures[key]
        lines += [f"## {title}", "", "| run | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|"]
        lines += [
            f"| {p['label']} | {p['requests_per_second']:.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {p['errors']} |"
            for p in section["points"]
        ]
        name = next(f for k, f in files.items() if k.split("-", 1)[1].replace("-", "_") == key)
        lines += ["", f"![{title}]({name})", "", f"**{section['conclusion']}**", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vm", default="kit-demo", help="demo VM container (default: kit-demo)")
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run (default: 5)")
    parser.add_argument("--cpu-ms", type=int, default=10, help="CPU time per CPU-bound request (default: 10)")
    parser.add_argument("--io-ms", type=int, default=50, help="wait per I/O-bound request (default: 50)")
    parser.add_argument("--out", type=Path, help="results directory (default: benchmarks/results/<date>)")
    args = parser.parse_args()

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    out = args.out or PROJECT / "benchmarks/results" / when
    out.mkdir(parents=True, exist_ok=True)
    vm_exec(args.vm, "sh", "-c", "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)")
    facts = machine(args.vm)
    print(f"demo VM: {facts['cpus']} CPUs, {facts['memory_gib']} GiB; {args.seconds} s per point")
    try:
        print("1. Nginx overhead")
        figures = {"nginx_overhead": nginx_overhead(args.vm, facts["cpus"], args.seconds)}
        print("2. CPU-bound")
        figures["cpu_bound"] = cpu_bound(args.vm, facts["cpus"], args.seconds, args.cpu_ms)
        print("3. I/O-bound")
        figures["io_bound"] = io_bound(args.vm, facts["cpus"], args.seconds, args.io_ms)
    finally:
        vm_exec(args.vm, "systemctl", "stop", BENCH_UNIT, check=False)
    files = plot(figures, facts, out)
    report = {"date": when, "machine": facts, "seconds_per_point": args.seconds, **figures, "plots": files}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(figures, facts, files, when))
    for section in figures.values():
        print(section["conclusion"])
    print(f"written: {out.relative_to(PROJECT) if out.is_relative_to(PROJECT) else out}/")


if __name__ == "__main__":
    main()
