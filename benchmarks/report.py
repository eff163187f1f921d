"""The benchmark report: the kit on the demo VM, measured in one run, with plots.

Not a test: it measures and writes figures. Run it with `make bench`. It
REMOVES the demo VM and provisions a blank one (so the first converge is a
first converge), deploys the sample app with its test endpoints (/work/*)
on the gevent profile (the bench configuration), measures, and leaves the
demo VM serving the demo inventory's configuration again. The load runs
inside the demo VM (wrk and slowhttptest, Debian's packages, installed
there), except section 6's stream, which runs from this machine to the
demo's published loopback port; every run is bounded in time and stops by
itself. Second Gunicorns are transient systemd units of the sample app with
the service's own configuration on port 800N (removed afterwards;
the live slots are not touched).

1. Nginx overhead: the app's index (next to no work) and /work/cpu?ms=N,
   each through Nginx and directly. Through a server on 127.0.0.1:8081
   with the kit's proxying (HTTP/1.1 keepalive upstream, buffering both
   ways), written to conf.d for the run and removed after; without the
   per-address limits, which would answer most of one client's load with 429.
2. CPU-bound: /work/cpu?ms=N on sync workers from 1 to 4 x CPUs; where the
   kit's 2 x CPUs + 1 sits against the best.
3. I/O-bound: (a) playbooks/tune.yml with its default grid on /work/io?ms=N,
   on the live app's idle slot, run first, with a busy-host limit raised
   to --tune-max-load (this machine is shared; each section records the
   load it started under); whether the live slot's processes and
   configuration stayed the same. (b) sync 2 x CPUs + 1, gthread with the
   kit's size (CPUs + 1 workers of 4 threads) and with 16 threads, gevent
   as the kit sizes it, and the tuner's pick, side by side.
4. Two apps sharing the host: two Gunicorns of the sample app, each sized
   by the kit's rule for its share and in its own unit with the kit's
   CPUWeight=, loaded at once on /work/cpu; weights 1:1, then 3:1.
5. Slow clients: a slowloris attack (slowhttptest, from 127.0.0.1 in the VM)
   on Gunicorn directly (sync 2 x CPUs + 1) and through Nginx, while
   legitimate clients (4, each a request every 0.25 s, from the VM's
   bridge address) count failures and p99.
6. Deploys: the first converge of the blank VM and the no-op converge after
   it; failed requests and p99 of a stream during a release that boots in
   3 s deployed by the slot switch, during a plain restart, during a
   code-only deploy (deploy.yml) and a rollback (rollback.yml).

The machine: the demo VM is a container with no CPU or memory limit, so
its CPUs and memory are this machine's, shared with whatever else runs.
Every figure is from this one run; the conclusions compare them as ratios. It writes
benchmarks/results/<date>/: report.json (every figure), report.md, a PNG
plot per section, each with its one-line conclusion and the machine, and
tune/ (the tuner's snippet and measurements). --replot redraws the plots
and report.md from report.json.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy import demo_entry, during, live_unit, p99, playbook, release_of, summary, switch_versus_restart
from slowloris import BENCH_UNIT, attack, start_direct_gunicorn, vm_exec

PROJECT = Path(__file__).resolve().parents[1]
# wrk's figures are read as the tuner reads them, Gunicorn sized as the
# kit sizes it (roles/gunicorn).
sys.path.insert(0, str(PROJECT / "roles/gunicorn/filter_plugins"))
from gunicorn_sizing import gunicorn_sizing, wrk_figures  # noqa: E402

# The demo inventory's host (inventories/local) and where it serves on this machine's loopback.
VM = "kit-demo"
DEMO_URL = "http://127.0.0.1:8080/healthz"
TEST_ENDPOINTS = ("FLASK_TEST_ENDPOINTS=true",)
DIRECT, PROXIED = "127.0.0.1:8000", "127.0.0.1:8081"
BENCH_SITE = "/etc/nginx/conf.d/kit-bench.conf"
# The kit's proxying (roles/nginx: keepalive upstream, buffering), to the bench Gunicorn on TCP.
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


POINT_FIELDS = ("requests_per_second", "p50_ms", "p99_ms", "errors")


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


def verdict(met: bool) -> str:
    """Say whether a figure met its target, for a conclusion."""
    return "met" if met else "missed"


def serve(vm: str, *options: str) -> None:
    """(Re)start the bench Gunicorn with these options; it answers when this returns."""
    start_direct_gunicorn(vm, 8000, *options, environment=TEST_ENDPOINTS)


def machine(vm: str) -> dict:
    """Read the VM's CPUs and memory, and the host's CPU model: what every plot states."""
    cpus = int(vm_exec(vm, "nproc"))
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", vm_exec(vm, "cat", "/proc/meminfo")).group(1))
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cpus": cpus,
        "memory_mb": mem_kib // 1024,
        "memory_gib": round(mem_kib / 2**20, 1),
        "cpu_model": model.group(1) if model else "?",
    }


def nginx_overhead(vm: str, cpus: int, seconds: int, cpu_ms: int) -> dict:
    """Load the app's index (next to no work) and /work/cpu?ms=cpu_ms, each through Nginx and directly."""
    serve(vm, "--workers", str(2 * cpus + 1), "--worker-class", "sync")
    points, ratios = [], {}
    try:
        vm_exec(vm, "sh", "-c", f"cat > {BENCH_SITE} <<'EOF'\n{NGINX_SITE}EOF\nnginx -t -q && systemctl reload nginx")
        time.sleep(1)
        for name, path in (("index", "/"), (f"{cpu_ms} ms of CPU", f"/work/cpu?ms={cpu_ms}")):
            direct = wrk(vm, f"{name}, gunicorn direct", f"http://{DIRECT}{path}", 16, seconds)
            proxied = wrk(vm, f"{name}, through nginx", f"http://{PROXIED}{path}", 16, seconds)
            points += [asdict(direct), asdict(proxied)]
            ratios[name] = {
                "throughput": round(proxied.requests_per_second / direct.requests_per_second, 3),
                "p50": round(proxied.p50_ms / direct.p50_ms, 3),
                "p99": round(proxied.p99_ms / direct.p99_ms, 3),
            }
    finally:
        vm_exec(
            vm,
            "sh",
            "-c",
            f"rm -f {BENCH_SITE} /var/log/nginx/kit-bench.access.log && systemctl reload nginx",
            check=False,
        )
    index, work = ratios.values()
    return {
        "points": points,
        "ratios": ratios,
        "conclusion": f"Through Nginx the app serves {index['throughput']:.2f} x the requests of Gunicorn reached"
        f" directly on its index (p99 {index['p99']:.2f} x) and {work['throughput']:.2f} x on {cpu_ms} ms of work"
        f" (p99 {work['p99']:.2f} x); target >= 0.95: {verdict(index['throughput'] >= 0.95)} on the index,"
        f" {verdict(work['throughput'] >= 0.95)} on the work. Nginx, wrk and the app share the VM's {cpus} CPUs.",
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
    speedup = rule["requests_per_second"] / one
    rule_of_best = rule["requests_per_second"] / best["requests_per_second"]
    return {
        "endpoint_ms": ms,
        "points": points,
        "speedup_of_rule": round(rule["requests_per_second"] / one, 3),
        "rule_of_best": round(rule_of_best, 3),
        "best_workers": best["workers"],
        "conclusion": f"2 x {cpus} + 1 = {2 * cpus + 1} sync workers serve {speedup:.2f} x one worker"
        f" (target >= 1.8: {verdict(speedup >= 1.8)}) and {rule_of_best:.2f} x the best ({best['workers']} workers).",
    }


def vm_address(vm: str) -> str:
    """Return the VM's address on the Docker bridge."""
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", vm], check=True, capture_output=True, text=True
    ).stdout.strip()


def bench_entry() -> dict:
    """Give the demo's sample app its test endpoints and the gevent profile (its release then has gevent)."""
    entry = demo_entry()
    return dict(
        entry,
        environment={**entry.get("environment", {}), "FLASK_TEST_ENDPOINTS": "true"},
        gunicorn={**entry.get("gunicorn", {}), "profile": "gevent"},
    )


def converges() -> dict:
    """Remove the demo VM, start a blank one, and time site.yml on it twice: the first converge and a no-op."""
    playbook("playbooks/demo_vm.yml", {"demo_vm_state": "absent"})
    playbook("playbooks/demo_vm.yml")
    first = playbook("site.yml")
    print(f"  first converge {first['seconds']} s ({first['changed']} changed)")
    noop = playbook("site.yml")
    print(f"  no-op converge {noop['seconds']} s ({noop['changed']} changed)")
    return {"first": first, "noop": noop, "noop_of_first": round(noop["seconds"] / first["seconds"], 3)}


def live_state(vm: str) -> dict:
    """Read the sample app's live slot: its master's and workers' pids, a digest of its units and config."""
    unit = live_unit(vm).removesuffix(".service")
    master = vm_exec(vm, "systemctl", "show", "--property=MainPID", "--value", f"{unit}.service").strip()
    config = vm_exec(
        vm, "sh", "-c", f"systemctl cat {unit}.service {unit}.socket; cat /etc/gunicorn/sample_app.conf.py"
    )
    return {
        "unit": unit,
        "master": master,
        "workers": sorted(vm_exec(vm, "pgrep", "-P", master).split()),
        "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
    }


def tuner(vm: str, cpus: int, out: Path, seconds: int, io_ms: int, max_load: float) -> dict:
    """Run playbooks/tune.yml on the I/O-bound endpoint with its default grid; read what it wrote.

    When no configuration meets its p99 target the tuner fails after writing
    its measurements: the section then says so and has no pick.
    """
    before = live_state(vm)
    shutil.rmtree(out / "tune", ignore_errors=True)  # a same-day run's
    run = playbook(
        "playbooks/tune.yml",
        {
            "flask_apps": [bench_entry()],
            "app": "sample_app",
            "path": f"/work/io?ms={io_ms}",
            "tune_out_dir": str(out / "tune"),
            "gunicorn_tune_seconds": seconds,
            # Section 3b's load, so the two compare.
            "gunicorn_tune_connections": 128,
            "gunicorn_tune_max_load": max_load,
        },
        check=False,
    )
    after = live_state(vm)
    written = out / "tune" / vm / "sample_app.json"
    if not written.is_file():
        raise SystemExit(f"playbooks/tune.yml failed before measuring (run it alone to see why): {run}")
    tuned = json.loads(written.read_text())["tuned"]
    points = [
        {
            "label": f"{p['profile']} {p['workers']}x{p['threads']}",
            **{k: p[k] for k in (*POINT_FIELDS, "runs", "qualifies")},
        }
        for p in tuned["points"]
    ]
    pick = tuned["pick"]
    rule = next((p for p in tuned["points"] if p["profile"] == "sync" and p["workers"] == 2 * cpus + 1), None)
    figures = {
        "endpoint_ms": io_ms,
        "p99_target_ms": tuned["settings"]["p99_ms"],
        "seconds": run["seconds"],
        "passed": run["passed"],
        "points": points,
        "pick": pick and {k: pick[k] for k in ("profile", "workers", "threads", "requests_per_second", "p99_ms")},
        "skipped": tuned["skipped"],
        "live_before": before,
        "live_after": after,
        "live_unchanged": before == after,
    }
    live = f"live slot's pids and config {'unchanged' if before == after else 'CHANGED'}"
    if pick is None:
        figures["conclusion"] = (
            f"No configuration met the tuner's p99 target of {figures['p99_target_ms']} ms without errors"
            f" (best p99: {tuned['best_p99_ms']} ms); {live}."
        )
    else:
        figures["pick_vs_best"] = tuned["pick_vs_best"]
        against = "sync 2n+1 was not in the grid"
        if rule:
            figures["pick_over_sync_rule"] = round(pick["requests_per_second"] / rule["requests_per_second"], 2)
            figures["pick_p99_over_sync_rule"] = round(pick["p99_ms"] / rule["p99_ms"], 2)
            met = figures["pick_over_sync_rule"] >= 8 and figures["pick_p99_over_sync_rule"] <= 1
            against = (
                f"{figures['pick_over_sync_rule']:.1f} x sync 2n+1 at {figures['pick_p99_over_sync_rule']:.2f} x"
                f" its p99 (target >= 8 x at <= 1 x: {verdict(met)})"
            )
        figures["conclusion"] = (
            f"The tuner picked {pick['profile']} {pick['workers']}x{pick['threads']} in {run['seconds']:.0f} s:"
            f" {figures['pick_vs_best']:.3f} x the best single run of its grid (target >= 0.95:"
            f" {verdict(figures['pick_vs_best'] >= 0.95)}), {against}; {live}."
        )
    print(f"  {figures['conclusion']}")
    return figures


def io_bound(vm: str, facts: dict, seconds: int, ms: int, pick: dict | None) -> dict:
    """/work/io on sync 2n+1, gthread, gevent as the kit sizes them, and the tuner's pick (if it made one)."""
    cpus = facts["cpus"]
    gevent = gunicorn_sizing("gevent", nproc=cpus, memory_mb=facts["memory_mb"])

    def run(profile: str, workers: int, threads: int = 1) -> list[str]:
        return ["--worker-class", profile, "--workers", str(workers), "--threads", str(threads)]

    profiles = [
        (f"sync {2 * cpus + 1} workers", run("sync", 2 * cpus + 1)),
        (f"gthread {cpus + 1} x 4 threads", run("gthread", cpus + 1, 4)),
        (f"gthread {cpus + 1} x 16 threads", run("gthread", cpus + 1, 16)),
        (
            f"gevent {gevent['workers']} x {gevent['worker_connections']} conns",
            [*run("gevent", gevent["workers"]), "--worker-connections", str(gevent["worker_connections"])],
        ),
    ]
    if pick:
        profiles.append(
            (
                f"tuner's pick: {pick['profile']} {pick['workers']} x {pick['threads']}",
                run(pick["profile"], pick["workers"], pick["threads"]),
            )
        )
    points = []
    for label, options in profiles:
        serve(vm, *options)
        points.append(asdict(wrk(vm, label, f"http://{DIRECT}/work/io?ms={ms}", 128, seconds)))
    sync = points[0]

    def against_sync(point: dict) -> str:
        return (
            f"{point['requests_per_second'] / sync['requests_per_second']:.1f} x sync {2 * cpus + 1} workers"
            f" at {point['p99_ms'] / sync['p99_ms']:.2f} x its p99"
        )

    best = max(points[1:], key=lambda p: p["requests_per_second"])
    conclusion = f"For {ms} ms waits, the fastest, {best['label']}, serves {against_sync(best)}"
    if pick:
        met = (
            points[-1]["requests_per_second"] >= 8 * sync["requests_per_second"]
            and points[-1]["p99_ms"] <= sync["p99_ms"]
        )
        conclusion += f"; the tuner's pick {against_sync(points[-1])} (target >= 8 x at <= 1 x: {verdict(met)})"
    return {
        "endpoint_ms": ms,
        "points": points,
        "best_over_sync": round(best["requests_per_second"] / sync["requests_per_second"], 3),
        "best_p99_over_sync": round(best["p99_ms"] / sync["p99_ms"], 3),
        "conclusion": conclusion + ".",
    }


def sharing(vm: str, facts: dict, seconds: int, ms: int) -> dict:
    """Two apps on one host, both loaded on /work/cpu at once, with CPU weights 1:1 and 3:1."""
    points, shares_of_first = [], {}
    for weights in ((100, 100), (300, 100)):
        ratio = f"{weights[0] // 100}:{weights[1] // 100}"
        labels = []
        for index, weight in enumerate(weights):
            size = gunicorn_sizing(
                "sync", nproc=facts["cpus"], memory_mb=facts["memory_mb"], share=weight / sum(weights)
            )
            start_direct_gunicorn(
                vm, 8001 + index, "--workers", str(size["workers"]), "--worker-class", "sync",
                environment=TEST_ENDPOINTS, unit=f"{BENCH_UNIT}-{index + 1}", properties=(f"CPUWeight={weight}",),
            )  # fmt: skip
            labels.append(f"{ratio}: app {'AB'[index]} (CPUWeight={weight}, {size['workers']} workers)")
        with ThreadPoolExecutor(2) as pool:
            runs = [
                pool.submit(wrk, vm, labels[i], f"http://127.0.0.1:{8001 + i}/work/cpu?ms={ms}", 16, seconds)
                for i in range(2)
            ]
        found = [run.result() for run in runs]
        pair = [{"weights": ratio, **asdict(found[i])} for i in range(2)]
        points += pair
        shares_of_first[ratio] = round(pair[0]["requests_per_second"] / sum(p["requests_per_second"] for p in pair), 2)
    return {
        "endpoint_ms": ms,
        "points": points,
        "share_of_a": shares_of_first,
        "conclusion": f"Loaded at once, app A got {shares_of_first['1:1']:.2f} of the two apps' requests with CPU"
        f" weights 1:1 (asked: 0.50) and {shares_of_first['3:1']:.2f} with 3:1 (asked: 0.75); each app's workers"
        " as the kit sizes them for its share.",
    }


def legit_clients(vm: str, url: str, seconds: float) -> list[tuple[float, int]]:
    """Run section 5's legitimate clients inside the VM, from its bridge address (not the attacker's 127.0.0.1).

    benchmarks/clients.py: 4 clients, a request every 0.25 s each, 10 s timeout.
    """
    run = subprocess.run(
        ["docker", "exec", "-i", vm, "python3", "-", url, str(seconds), "4", "0.25", "10"],
        input=(Path(__file__).parent / "clients.py").read_text(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [tuple(answer) for answer in json.loads(run.stdout)]


def slow_clients(vm: str, cpus: int, seconds: int, connections: int, rate: int) -> dict:
    """Attack Gunicorn directly (sync 2n+1, the kit's default) and through Nginx with slowloris."""
    address = vm_address(vm)
    start_direct_gunicorn(vm, 8000, "--workers", str(2 * cpus + 1), "--worker-class", "sync")
    points = []
    for target, attacked, legit in (
        ("gunicorn direct", "http://127.0.0.1:8000/healthz", f"http://{address}:8000/healthz"),
        ("through nginx", "http://127.0.0.1/healthz", f"http://{address}/healthz"),
    ):
        baseline = legit_clients(vm, legit, 5)
        with ThreadPoolExecutor(1) as pool:
            attacking = pool.submit(attack, vm, target, attacked, seconds, connections, rate)
            answers = legit_clients(vm, legit, seconds)
            outcome = asdict(attacking.result())
        figures = summary(f"{target}, legitimate", answers, p99(baseline))
        points.append(
            {
                "label": target,
                "unavailable_s": outcome["unavailable"],
                "attack_s": outcome["seconds"],
                "peak_connections": outcome["peak_connections"],
                "legit_requests": figures["requests"],
                "legit_failed": figures["failed"],
                "legit_p99_ms": figures["p99_ms"],
                "legit_p99_ratio": figures["p99_ratio"],
            }
        )
    direct, proxied = points
    expected = 16 * seconds  # 4 clients, 4 requests a second each
    return {
        "attack": {"connections": connections, "rate": rate, "seconds": seconds},
        "points": points,
        "conclusion": f"Under slowloris Gunicorn direct was unavailable {direct['unavailable_s']} of"
        f" {direct['attack_s']} s; legitimate clients sent {direct['legit_requests']} requests of the {expected} a"
        f" healthy server lets them send and {direct['legit_failed']} failed. Through Nginx: {proxied['unavailable_s']}"
        f" s, {proxied['legit_requests']} sent, {proxied['legit_failed']} failed, p99"
        f" {proxied['legit_p99_ratio']:.1f} x its baseline.",
    }


def deploys(vm: str, boot: float, converge: dict) -> dict:
    """Failed requests and p99 of a stream through Nginx during the kit's deploys; the converges' times."""
    entry = bench_entry()
    figures = switch_versus_restart(vm, DEMO_URL, boot, entry)
    base = figures["baseline"]["p99_ms"] / 1000
    timed: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # The live release's environment (the same server configuration): only the code changes.
        code = release_of(entry, Path(tmp), "1.0.98", FLASK_START_DELAY=f"{boot:g}")
        answers = during(
            DEMO_URL, lambda: timed.update(code=playbook("playbooks/deploy.yml", {"flask_apps": [code]})), tail=2
        )
        figures["code_only"] = {**summary("code-only", answers, base), **timed["code"]}
        answers = during(
            DEMO_URL,
            lambda: timed.update(back=playbook("playbooks/rollback.yml", {"flask_apps": [code], "app": "sample_app"})),
            tail=2,
        )
        figures["rollback"] = {**summary("rollback", answers, base), **timed["back"]}
    names = {
        "baseline": "no deploy (baseline)",
        "switch": "site.yml, slot switch",
        "restart": "plain restart",
        "code_only": "deploy.yml, code only",
        "rollback": "rollback.yml",
    }
    points = [{"label": names[key], **figures[key]} for key in names]
    points += [
        # The controller's build cache is warm: the wheels are not downloaded again.
        {"label": "first converge (blank VM)", **converge["first"]},
        {"label": "no-op converge", **converge["noop"]},
    ]
    return {
        "boot_seconds": boot,
        "points": points,
        "noop_of_first": converge["noop_of_first"],
        "conclusion": f"Slot switch: {figures['switch']['failed']} of {figures['switch']['requests']} requests failed,"
        f" p99 {figures['switch']['p99_ratio']} x the baseline; plain restart: {figures['restart']['failed']} of"
        f" {figures['restart']['requests']} failed, p99 {figures['restart']['p99_ratio']:.0f} x (the socket holds"
        f" requests while the app boots); code-only deploy {figures['code_only']['seconds']:.0f} s and rollback"
        f" {figures['rollback']['seconds']:.0f} s, {figures['code_only']['failed'] + figures['rollback']['failed']}"
        f" failed; no-op converge {converge['noop']['seconds']:.0f} s = {converge['noop_of_first']:.2f} of the first"
        f" ({converge['first']['seconds']:.0f} s; target <= 0.20: {verdict(converge['noop_of_first'] <= 0.2)}).",
    }


SECTIONS = {
    "nginx_overhead": ("1. Nginx overhead", ("requests_per_second", "p50_ms", "p99_ms")),
    "cpu_bound": ("2. CPU-bound scaling", ()),
    # Grey bars: the points the tuner ruled out (a failed request, or p99 above its target).
    "tuner": ("3a. The tuner on /work/io, live app's idle slot", ("requests_per_second", "p99_ms")),
    "io_bound": ("3b. I/O-bound profiles", ("requests_per_second", "p99_ms")),
    "sharing": ("4. Two apps sharing the host, /work/cpu", ("requests_per_second", "p99_ms")),
    "slow_clients": ("5. Slow clients: slowloris", ("unavailable_s", "legit_failed", "legit_p99_ms")),
    "deploys": ("6. Deploys under a stream through Nginx", ("failed", "p99_ms", "seconds")),
}


def plot(figures: dict, facts: dict, out: Path) -> dict[str, str]:
    """One PNG per section, its conclusion and the machine under it; returns section -> file name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stamp = f"{facts['cpus']} CPUs, {facts['memory_gib']} GiB ({facts['cpu_model']})"
    files = {}
    for key, section in figures.items():
        title, metrics = SECTIONS[key]
        if key == "cpu_bound":
            fig, axis = plt.subplots(figsize=(9, 4.5))
            workers = [p["workers"] for p in section["points"]]
            axis.plot(workers, [p["requests_per_second"] for p in section["points"]], marker="o")
            axis.axvline(2 * facts["cpus"] + 1, color="#c33", linestyle="--", label="2 x CPUs + 1 (the kit's rule)")
            axis.set_xlabel("sync workers")
            axis.set_ylabel("requests/s")
            axis.legend()
            title += f": /work/cpu?ms={section['endpoint_ms']}"
        else:
            fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics) + 1, 4.5))
            for axis, metric in zip(axes, metrics, strict=True):
                shown = [p for p in section["points"] if metric in p]
                colors = ["#2a7" if p.get("qualifies", True) else "#bbb" for p in shown]
                bars = axis.barh([p["label"] for p in shown], [p[metric] for p in shown], color=colors)
                axis.bar_label(bars, fmt="%.4g", fontsize=6, padding=2)
                axis.invert_yaxis()
                axis.set_xlabel(metric.replace("_", " "))
                axis.tick_params(axis="y", labelsize=6)
        fig.suptitle(title)
        fig.text(0.01, 0.06, section["conclusion"], fontsize=8, wrap=True)
        fig.text(
            0.01, 0.01, f"Demo VM (a container, no limits: this machine, shared): {stamp}", fontsize=7, color="grey"
        )
        fig.tight_layout(rect=(0, 0.12, 1, 0.95))
        name = f"{title.split('.')[0]}-{key.replace('_', '-')}.png"
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        files[key] = name
    return files


def markdown(figures: dict, facts: dict, files: dict[str, str], when: str) -> str:
    lines = [
        f"# Benchmark report, {when}",
        "",
        "Demo VM (a container with no CPU or memory limit: this machine, shared):"
        f" {facts['cpus']} CPUs, {facts['memory_gib']} GiB; host CPU {facts['cpu_model']}."
        " Every figure below is from this one run (`make bench`, benchmarks/report.py, which says how each is made).",
        "",
    ]
    for key, section in figures.items():
        points = section["points"]
        # Every figure any point has, in the order they first appear.
        columns = [c for c in dict.fromkeys(k for p in points for k in p) if c != "label"]
        columns = [c for c in columns if all(isinstance(p.get(c, ""), int | float | str | bool) for p in points)]
        lines += [f"## {SECTIONS[key][0]}", "", "| run | " + " | ".join(c.replace("_", " ") for c in columns) + " |"]
        lines.append("|---" * (len(columns) + 1) + "|")
        for p in points:
            cells = [f"{p[c]:.2f}" if isinstance(p.get(c), float) else str(p.get(c, "")) for c in columns]
            lines.append(f"| {p.get('label', '')} | " + " | ".join(cells) + " |")
        lines += ["", f"![{SECTIONS[key][0]}]({files[key]})", "", f"**{section['conclusion']}**", ""]
        if "load_per_cpu_before" in section:
            lines += [f"Started with a 1-minute load average of {section['load_per_cpu_before']} per CPU.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run (default: 5)")
    parser.add_argument("--cpu-ms", type=int, default=10, help="CPU time per CPU-bound request (default: 10)")
    parser.add_argument("--io-ms", type=int, default=50, help="wait per I/O-bound request (default: 50)")
    parser.add_argument(
        "--tune-max-load",
        type=float,
        default=4.0,
        help="the tuner's busy-host limit per CPU (default 4: shared machine)",
    )
    parser.add_argument("--attack-seconds", type=int, default=35, help="length of each slowloris attack")
    parser.add_argument("--attack-connections", type=int, default=8000, help="connections per attack")
    parser.add_argument("--attack-rate", type=int, default=300, help="connections opened per second")
    parser.add_argument("--boot", type=float, default=3.0, help="seconds the deployed release takes to boot")
    parser.add_argument("--out", type=Path, help="results directory (default: benchmarks/results/<date>)")
    parser.add_argument(
        "--replot", action="store_true", help="measure nothing: redraw the plots and report.md from --out's report.json"
    )
    args = parser.parse_args()

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    if args.replot and not args.out:
        parser.error("--replot redraws a run's report: name its directory with --out")
    out = (args.out or PROJECT / "benchmarks/results" / when).resolve()
    if args.replot:
        report = json.loads((out / "report.json").read_text())
    else:
        out.mkdir(parents=True, exist_ok=True)
        report = {"date": when, "seconds_per_point": args.seconds, **measure(args, out)}
    figures = {key: report[key] for key in SECTIONS}
    report["plots"] = plot(figures, report["machine"], out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(figures, report["machine"], report["plots"], report["date"]))
    for section in figures.values():
        print(section["conclusion"])
    print(f"written: {out.relative_to(PROJECT) if out.is_relative_to(PROJECT) else out}/")


def measure(args: argparse.Namespace, out: Path) -> dict:
    """Measure every section on a blank demo VM: the machine's facts and each section's figures."""
    units = [BENCH_UNIT, f"{BENCH_UNIT}-1", f"{BENCH_UNIT}-2"]
    figures: dict = {}

    def section(key: str, title: str, run: Callable[[], dict]) -> None:
        # The 1-minute load average per CPU as the section starts: the machine is shared.
        load = float(vm_exec(VM, "cat", "/proc/loadavg").split()[0]) / facts["cpus"]
        print(f"{title} (load {load:.2f} per CPU)")
        figures[key] = {**run(), "load_per_cpu_before": round(load, 2)}

    try:
        print("6. (first) a blank demo VM: the first converge and a no-op")
        converge = converges()
        facts = machine(VM)
        print(f"demo VM: {facts['cpus']} CPUs, {facts['memory_gib']} GiB; {args.seconds} s per point")
        vm_exec(VM, "sh", "-c", "apt-get update -qq && apt-get install -y -qq wrk slowhttptest")
        print("the bench configuration: the sample app with /work/*, on the gevent profile")
        playbook("site.yml", {"flask_apps": [bench_entry()]})
        cpus = facts["cpus"]
        section("tuner", "3a. the tuner", lambda: tuner(VM, cpus, out, args.seconds, args.io_ms, args.tune_max_load))
        section("nginx_overhead", "1. Nginx overhead", lambda: nginx_overhead(VM, cpus, args.seconds, args.cpu_ms))
        section("cpu_bound", "2. CPU-bound", lambda: cpu_bound(VM, cpus, args.seconds, args.cpu_ms))
        pick = figures["tuner"]["pick"]
        section("io_bound", "3b. I/O-bound", lambda: io_bound(VM, facts, args.seconds, args.io_ms, pick))
        section("sharing", "4. two apps sharing the host", lambda: sharing(VM, facts, 2 * args.seconds, args.cpu_ms))
        section(
            "slow_clients",
            "5. slow clients",
            lambda: slow_clients(VM, cpus, args.attack_seconds, args.attack_connections, args.attack_rate),
        )
        vm_exec(VM, "systemctl", "stop", *units, check=False)
        section("deploys", "6. deploys", lambda: deploys(VM, args.boot, converge))
    finally:
        vm_exec(VM, "systemctl", "stop", *units, check=False)
        print("back to the demo inventory's configuration ...")
        # Not raising here: an error of the run above is the one to see.
        if not playbook("site.yml", check=False)["passed"]:
            print("site.yml failed: run `make demo` to put the demo VM back", file=sys.stderr)
    return {"machine": facts, **figures}


if __name__ == "__main__":
    main()
