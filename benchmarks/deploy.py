"""Deploys under load: the kit's slot switch against a plain restart, side by side.

Not a test: it prints figures. benchmarks/report.py (section 6, `make
bench`) runs it; alone it needs the demo VM up (`make demo`). The sample
app is told to boot in 3 s (FLASK_START_DELAY).
A bounded stream of requests (4 clients, 10 a second each, to
http://127.0.0.1:8080/healthz, the demo's loopback port) runs:

1. for a few seconds before anything changes (the baseline);
2. during `site.yml` deploying a new release of that slow-booting app (the
   slot switch: the new release boots beside the live one);
3. during `systemctl restart` of the live slot (what a deploy without slots
   does: every request waits for the new code to boot).

For each it prints failed requests and the p99 latency divided by the
baseline's. Target: 0 failed, and at most 2 for the switch. Then it deploys
the inventory's own release again.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from clients import stream

PROJECT = Path(__file__).resolve().parents[1]
INVENTORY = PROJECT / "inventories/local"


def p99(answers: list[tuple[float, int]]) -> float:
    seconds = sorted(took for took, _ in answers)
    return seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]


def summary(name: str, answers: list[tuple[float, int]], base: float) -> dict:
    failed = sum(1 for _, status in answers if status != 200)
    figures = {
        "requests": len(answers),
        "failed": failed,
        "p50_ms": round(statistics.median(took for took, _ in answers) * 1000, 1),
        "p99_ms": round(p99(answers) * 1000, 1),
        "max_ms": round(max(took for took, _ in answers) * 1000, 1),
        "p99_ratio": round(p99(answers) / base, 2),
    }
    print(
        f"{name:<14} {figures['requests']:>6} requests, {failed} failed, p50 {figures['p50_ms']} ms,"
        f" p99 {figures['p99_ms']} ms (x{figures['p99_ratio']} the baseline), max {figures['max_ms']} ms"
    )
    return figures


def during(url: str, action: Callable[[], object], tail: float) -> list[tuple[float, int]]:
    """Stream requests while ``action()`` runs, and ``tail`` seconds after it ends; re-raise what it raised."""
    finished: dict[str, object] = {}

    def run() -> None:
        try:
            action()
        except BaseException as error:  # re-raised in the caller's thread
            finished["error"] = error
        finished["at"] = time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    answers = stream(url, until=lambda: "at" in finished and time.monotonic() > finished["at"] + tail)
    worker.join()
    if "error" in finished:
        raise finished["error"]
    return answers


def playbook(name: str, extra: dict | None = None, check: bool = True) -> dict:
    """Run a playbook of the kit on the demo inventory: its seconds, the changes it reported, and whether it passed."""
    command = ["ansible-playbook", str(PROJECT / name), "-i", str(INVENTORY)]
    if extra:
        command += ["-e", json.dumps(extra)]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, check=False, cwd=PROJECT)
    if check and run.returncode != 0:
        raise SystemExit(f"{name} failed:\n{run.stdout[-4000:]}")
    recap = run.stdout.rpartition("PLAY RECAP")[2]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "changed": sum(int(n) for n in re.findall(r"changed=(\d+)", recap)),
        "passed": run.returncode == 0,
    }


def site(extra_vars: dict | None = None) -> dict:
    return playbook("site.yml", extra_vars)


def live_unit(vm: str) -> str:
    record = json.loads(subprocess.check_output(["docker", "exec", vm, "cat", "/opt/sample_app/deploys.json"]))
    return f"sample_app@{[e for e in record if e['result'] == 'live'][-1]['slot']}.service"


def release_of(entry: dict, workdir: Path, version: str, **environment: str) -> dict:
    """Copy ``entry``'s app from app/ as another ``version``, with more environment settings."""
    copy = workdir / version
    shutil.copytree(PROJECT / "app", copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests"))
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    return dict(
        entry,
        source={"path": str(copy)},
        lock_dir=str(PROJECT / "app/requirements"),
        environment={**entry.get("environment", {}), **environment},
    )


def demo_entry() -> dict:
    """Read the sample app's entry in the demo inventory."""
    apps = yaml.safe_load((INVENTORY / "group_vars/web.yml").read_text())["flask_apps"]
    return next(app for app in apps if app["name"] == "sample_app")


def switch_versus_restart(vm: str, url: str, boot: float, entry: dict) -> dict:
    """Deploy a release of ``entry`` booting in ``boot`` s by site.yml's slot switch, then restart it plainly."""
    with tempfile.TemporaryDirectory() as tmp:
        slow = release_of(entry, Path(tmp), "1.0.99", FLASK_START_DELAY=f"{boot:g}")
        base_end = time.monotonic() + 8
        baseline = stream(url, until=lambda: time.monotonic() > base_end)
        base = p99(baseline)
        print(f"deploys under load on {vm}; the app boots in {boot:g} s")
        figures = {"baseline": summary("baseline", baseline, base)}
        took: dict[str, dict] = {}
        switch = during(url, lambda: took.update(run=site({"flask_apps": [slow]})), tail=2)
        figures["switch"] = {**summary("slot switch", switch, base), **took["run"]}
        unit = live_unit(vm)
        # `systemctl restart` returns once the master is up; the workers then boot.
        restart = during(
            url, lambda: subprocess.run(["docker", "exec", vm, "systemctl", "restart", unit], check=True), boot + 2
        )
        figures["restart"] = summary("plain restart", restart, base)
    return figures


def main() -> None:
    """Measure the switch and a plain restart under one stream, one after the other."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vm", default="kit-demo", help="demo VM container (default: kit-demo)")
    parser.add_argument("--url", default="http://127.0.0.1:8080/healthz", help="where the demo serves")
    parser.add_argument("--boot", type=float, default=3.0, help="seconds the app takes to boot")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    try:
        figures = switch_versus_restart(args.vm, args.url, args.boot, demo_entry())
    finally:
        print("back to the inventory's release ...")
        site()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
