"""The benchmark report: the kit on the demo VM, measured in one run, with plots.

Not a test: it measures and writes figures. Run it with `make bench`. It
removes the demo VM and provisions a blank one (so the first converge is a
first converge), deploys the sample app with its test endpoints (/work/*)
on the gevent profile (the bench configuration), measures, and leaves the
demo VM serving the demo inventory's configuration again. The load runs
inside the demo VM (wrk and slowhttptest, Debian's packages, installed
there if missing) or from this machine's loopback to the demo's published
port; every run is bounded in time and stops by itself. Second Gunicorns
are transient systemd units of the sample app with the service's own
configuration on 127.0.0.1:800N (removed afterwards; the live slots are
not touched).

1. Nginx overhead: the app's index through Nginx (a server on
   127.0.0.1:8081 with the kit's proxy settings, written to conf.d for the
   run and removed after; without the per-address limits, which would
   answer most of one client's load with 429) against Gunicorn directly.
2. CPU-bound: /work/cpu?ms=N on sync workers from 1 to 4 x CPUs; where the
   kit's 2 x CPUs + 1 sits against the best.
3. I/O-bound: /work/io?ms=N on sync 2 x CPUs + 1, gthread with the kit's
   size (CPUs + 1 workers of 4 threads) and with 16 threads, gevent as the
   kit sizes it, and the tuner's pick. The tuner (playbooks/tune.yml) runs
   first, on the live app's idle slot; its grid, its pick and whether the
   live slot's processes and configuration stayed the same are reported.
4. Two apps sharing the host: two Gunicorns of the sample app, each sized
   by the kit's rule for its share and in its own unit with the kit's
   CPUWeight=, loaded at once on /work/cpu; weights 1:1, then 3:1.
5. Slow clients: a slowloris attack (slowhttptest) on Gunicorn directly
   and through Nginx, while legitimate clients (4, each 4 requests a
   second, from another address) measure failures and p99.
6. Deploys: the first converge of a blank VM and the no-op converge after
   it; failed requests and p99 of a stream during a release that boots in
   3 s deployed by the slot switch, during a plain restart, during a
   code-only deploy (deploy.yml) and a rollback (rollback.yml).

Every figure is a ratio or a distribution from this one run. It writes
benchmarks/results/<date>/: report.json (every figure), report.md, a PNG
plot per section, each with its one-line conclusion and the machine, and
tune/ (the tuner's snippet and measurements).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from deploy import INVENTORY, demo_entry, during, p99, release_of, summary, switch_versus_restart
from slowloris import BENCH_UNIT, attack, start_direct_gunicorn, vm_address, vm_exec

PROJECT = Path(__file__).resolve().parents[1]
# wrk's figures are read as the tuner reads them, Gunicorn sized as the
# kit sizes it (roles/gunicorn).
sys.path.insert(0, str(PROJECT / "roles/gunicorn/filter_plugins"))
from gunicorn_sizing import gunicorn_sizing, wrk_figures  # noqa: E402

DEMO_URL = "http://127.0.0.1:8080/healthz"
TEST_ENDPOINTS = ("FLASK_TEST_ENDPOINTS=true",)
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


def playbook(name: str, extra: dict | None = None) -> dict:
    """Run a playbook of the kit against the demo inventory: its seconds and the changes it reported."""
    command = ["ansible-playbook", str(PROJECT / name), "-i", str(INVENTORY)]
    if extra:
        command += ["-e", json.dumps(extra)]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed:\n{run.stdout[-4000:]}")
    recap = run.stdout.rpartition("PLAY RECAP")[2]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "changed": sum(int(n) for n in re.findall(r"changed=(\d+)", recap)),
    }


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
    record = json.loads(vm_exec(vm, "cat", "/opt/sample_app/deploys.json"))
    slot = [entry for entry in record if entry["result"] == "live"][-1]["slot"]
    unit = f"sample_app@{slot}"
    master = vm_exec(vm, "systemctl", "show", "--property=MainPID", "--value", f"{unit}.service").strip()
    config = vm_exec(
        vm, "sh", "-c", f"systemctl cat {unit}.service {unit}.socket; cat /etc/gunicorn/sample_app.conf.py"
    )
    return {
        "slot": slot,
        "master": master,
        "workers": sorted(vm_exec(vm, "pgrep", "-P", master).split()),
        "config_sha256": hashlib.sha256(config.encode()).hexdigest(),
    }


def tuner(vm: str, cpus: int, out: Path, seconds: int, io_ms: int, max_load: float) -> dict:
    """Run playbooks/tune.yml on the I/O-bound endpoint with its default grid; read what it wrote."""
    before = live_state(vm)
    run = playbook(
        "playbooks/tune.yml",
        {
            "app": "sample_app",
            "path": f"/work/io?ms={io_ms}",
            "tune_out_dir": str(out / "tune"),
            "gunicorn_tune_seconds": seconds,
            # Section 3's load: the tuner's figures and section 3's compare.
            "gunicorn_tune_connections": 128,
            "gunicorn_tune_max_load": max_load,
        },
    )
    after = live_state(vm)
    tuned = json.loads((out / "tune" / vm / "sample_app.json").read_text())["tuned"]
    points = [
        {
            "label": f"{p['profile']} {p['workers']}x{p['threads']}",
            **{k: p[k] for k in (*POINT_FIELDS, "runs", "qualifies")},
        }
        for p in tuned["points"]
    ]
    pick = tuned["pick"]
    rule = next(p for p in tuned["points"] if p["profile"] == "sync" and p["workers"] == 2 * cpus + 1)
    figures = {
        "endpoint_ms": io_ms,
        "seconds": run["seconds"],
        "points": points,
        "pick": {k: pick[k] for k in ("profile", "workers", "threads", "requests_per_second", "p99_ms")},
        "pick_vs_best": tuned["pick_vs_best"],
        "pick_over_sync_rule": round(pick["requests_per_second"] / rule["requests_per_second"], 2),
        "pick_p99_over_sync_rule": round(pick["p99_ms"] / rule["p99_ms"], 2),
        "skipped": tuned["skipped"],
        "live_before": before,
        "live_after": after,
        "live_unchanged": before == after,
    }
    figures["conclusion"] = (
        f"The tuner picked {pick['profile']} {pick['workers']}x{pick['threads']} in {run['seconds']:.0f} s:"
        f" {figures['pick_vs_best']:.2f} x the best run of its grid (target >= 0.95),"
        f" {figures['pick_over_sync_rule']:.1f} x sync 2n+1 at {figures['pick_p99_over_sync_rule']:.2f} x its p99"
        f" (target >= 8 x at <= 1 x); live slot's pids and config {'unchanged' if before == after else 'CHANGED'}."
    )
    print(f"  {figures['conclusion']}")
    return figures


def io_bound(vm: str, facts: dict, seconds: int, ms: int, pick: dict) -> dict:
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
        (
            f"tuner's pick: {pick['profile']} {pick['workers']} x {pick['threads']}",
            run(pick["profile"], pick["workers"], pick["threads"]),
        ),
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
        "pick_over_sync": round(points[-1]["requests_per_second"] / sync["requests_per_second"], 3),
        "pick_p99_over_sync": round(points[-1]["p99_ms"] / sync["p99_ms"], 3),
        "conclusion": f"For {ms} ms waits, {best['label']} serves"
        f" {best['requests_per_second'] / sync['requests_per_second']:.1f} x sync {2 * cpus + 1} workers,"
        f" at {best['p99_ms'] / sync['p99_ms']:.2f} x its p99; the tuner's pick"
        f" {points[-1]['requests_per_second'] / sync['requests_per_second']:.1f} x at"
        f" {points[-1]['p99_ms'] / sync['p99_ms']:.2f} x (target >= 8 x at <= 1 x).",
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
        shares_of_first[ratio] = round(pair[0]["requests_per_second"] / sum(p["requests_per_second"] for p in pair), 3)
    return {
        "endpoint_ms": ms,
        "points": points,
        "share_of_a": shares_of_first,
        "conclusion": f"Loaded at once, app A got {shares_of_first['1:1']:.2f} of the two apps' requests with CPU"
        f" weights 1:1 (asked: 0.50) and {shares_of_first['3:1']:.2f} with 3:1 (asked: 0.75).",
    }


# The legitimate clients of section 5: 4 threads, each a request every 0.25 s, for argv[2] seconds.
LEGIT_CLIENTS = """
import json, sys, threading, time, urllib.error, urllib.request
url, end = sys.argv[1], time.monotonic() + float(sys.argv[2])
answers, lock = [], threading.Lock()
def client():
    while time.monotonic() < end:
        sent = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=10) as reply:
                reply.read()
                status = reply.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = 0
        with lock:
            answers.append((time.monotonic() - sent, status))
        time.sleep(max(0.0, 0.25 - (time.monotonic() - sent)))
threads = [threading.Thread(target=client) for _ in range(4)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print(json.dumps(answers))
"""


def legit_clients(vm: str, url: str, seconds: float) -> list[tuple[float, int]]:
    """Run the legitimate clients inside the VM, from its bridge address (not the attacker's 127.0.0.1)."""
    return [tuple(answer) for answer in json.loads(vm_exec(vm, "python3", "-c", LEGIT_CLIENTS, url, str(seconds)))]


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
    return {
        "attack": {"connections": connections, "rate": rate, "seconds": seconds},
        "points": points,
        "conclusion": f"Under slowloris Gunicorn direct was unavailable {direct['unavailable_s']} of"
        f" {direct['attack_s']} s and failed {direct['legit_failed']} of {direct['legit_requests']} legitimate"
        f" requests; through Nginx {proxied['unavailable_s']} s and {proxied['legit_failed']} of"
        f" {proxied['legit_requests']}, p99 {proxied['legit_p99_ratio']:.1f} x its baseline.",
    }


def deploys(vm: str, boot: float, converge: dict) -> dict:
    """Failed requests and p99 of a stream through Nginx during the kit's deploys; the converges' times."""
    entry = bench_entry()
    figures = switch_versus_restart(vm, DEMO_URL, boot, entry)
    base = figures["baseline"]["p99_ms"] / 1000
    timed: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        code = release_of(entry, Path(tmp), "1.0.98")
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
        {"label": "first converge (blank VM)", **converge["first"]},
        {"label": "no-op converge", **converge["noop"]},
    ]
    return {
        "boot_seconds": boot,
        "points": points,
        "noop_of_first": converge["noop_of_first"],
        "conclusion": f"Slot switch: {figures['switch']['failed']} of {figures['switch']['requests']} requests failed,"
        f" p99 {figures['switch']['p99_ratio']} x; plain restart: {figures['restart']['failed']} of"
        f" {figures['restart']['requests']}; code-only deploy {figures['code_only']['seconds']:.0f} s and rollback"
        f" {figures['rollback']['seconds']:.0f} s, {figures['code_only']['failed'] + figures['rollback']['failed']}"
        f" failed; no-op converge {converge['noop']['seconds']:.0f} s = {converge['noop_of_first']:.2f} of the first"
        f" ({converge['first']['seconds']:.0f} s; target <= 0.20).",
    }


POINT_FIELDS = ("requests_per_second", "p50_ms", "p99_ms", "errors")
SECTIONS = {
    "nginx_overhead": ("1. Nginx overhead: the app's index", ("requests_per_second", "p50_ms", "p99_ms")),
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
        fig.text(0.01, 0.01, f"Demo VM: {stamp}", fontsize=7, color="grey")
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
        f"Demo VM: {facts['cpus']} CPUs, {facts['memory_gib']} GiB; host CPU {facts['cpu_model']}."
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
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vm", default="kit-demo", help="demo VM container (default: kit-demo)")
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
    args = parser.parse_args()

    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    out = (args.out or PROJECT / "benchmarks/results" / when).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print("6. (first) a blank demo VM: the first converge and a no-op")
    converge = converges()
    facts = machine(args.vm)
    print(f"demo VM: {facts['cpus']} CPUs, {facts['memory_gib']} GiB; {args.seconds} s per point")
    vm_exec(args.vm, "sh", "-c", "command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)")
    print("the bench configuration: the sample app with /work/*, on the gevent profile")
    playbook("site.yml", {"flask_apps": [bench_entry()]})
    units = [BENCH_UNIT, f"{BENCH_UNIT}-1", f"{BENCH_UNIT}-2"]
    try:
        print("3a. the tuner")
        figures = {"tuner": tuner(args.vm, facts["cpus"], out, args.seconds, args.io_ms, args.tune_max_load)}
        print("1. Nginx overhead")
        figures["nginx_overhead"] = nginx_overhead(args.vm, facts["cpus"], args.seconds)
        print("2. CPU-bound")
        figures["cpu_bound"] = cpu_bound(args.vm, facts["cpus"], args.seconds, args.cpu_ms)
        print("3b. I/O-bound")
        figures["io_bound"] = io_bound(args.vm, facts, args.seconds, args.io_ms, figures["tuner"]["pick"])
        print("4. two apps sharing the host")
        figures["sharing"] = sharing(args.vm, facts, 2 * args.seconds, args.cpu_ms)
        print("5. slow clients")
        figures["slow_clients"] = slow_clients(
            args.vm, facts["cpus"], args.attack_seconds, args.attack_connections, args.attack_rate
        )
        vm_exec(args.vm, "systemctl", "stop", *units, check=False)
        print("6. deploys")
        figures["deploys"] = deploys(args.vm, args.boot, converge)
    finally:
        vm_exec(args.vm, "systemctl", "stop", *units, check=False)
        print("back to the demo inventory's configuration ...")
        playbook("site.yml")
    figures = {key: figures[key] for key in SECTIONS}
    files = plot(figures, facts, out)
    report = {"date": when, "machine": facts, "seconds_per_point": args.seconds, **figures, "plots": files}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(figures, facts, files, when))
    for section in figures.values():
        print(section["conclusion"])
    print(f"written: {out.relative_to(PROJECT) if out.is_relative_to(PROJECT) else out}/")


if __name__ == "__main__":
    main()
