"""Slow-header attack on Gunicorn directly and through the kit's Nginx, side by side.

Not a test: it prints figures. Run it with `make bench` (the demo VM must be
up, `make demo`). Inside the demo VM it starts a second Gunicorn with the
service's own configuration on TCP port 8000 (a transient systemd unit,
removed afterwards), then runs the same slowhttptest attack against that
port and against Nginx on port 80, and prints how many seconds the
attacker's probe found the service unavailable. Traffic goes only to the
demo VM's address on the Docker bridge; each attack stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH_UNIT = "kit-bench-gunicorn"
GUNICORN = "/opt/sample_app/current/venv/bin/gunicorn"


@dataclass
class Outcome:
    """What one attack did to one target."""

    target: str
    seconds: int
    unavailable: int
    peak_connections: int


def vm_exec(vm: str, *command: str, check: bool = True) -> str:
    """Run a command in the demo VM and return its output."""
    return subprocess.run(["docker", "exec", vm, *command], check=check, capture_output=True, text=True).stdout


def vm_address(vm: str) -> str:
    """Return the VM's address on the Docker bridge."""
    return subprocess.run(
        ["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", vm], check=True, capture_output=True, text=True
    ).stdout.strip()


def start_direct_gunicorn(vm: str, port: int, *options: str, environment: tuple[str, ...] = ()) -> None:
    """Serve the app with the service's own config on TCP, bypassing Nginx.

    ``options`` (Gunicorn's command line, e.g. "--workers", "3") override the
    config file; ``environment`` adds NAME=value settings to the app's own.
    """
    vm_exec(vm, "systemctl", "stop", BENCH_UNIT, check=False)
    vm_exec(
        vm, "systemd-run", f"--unit={BENCH_UNIT}", "--collect",
        "--property=User=sample_app", "--property=Group=sample_app",
        "--property=EnvironmentFile=/etc/sample_app/app.env",
        *(f"--property=Environment={setting}" for setting in environment),
        f"--property=RuntimeDirectory={BENCH_UNIT}",
        "--property=WorkingDirectory=/opt/sample_app/current",
        GUNICORN, "--config", "/etc/gunicorn/sample_app.conf.py", "--bind", f"0.0.0.0:{port}",
        "--pid", f"/run/{BENCH_UNIT}/gunicorn.pid", "--worker-tmp-dir", f"/run/{BENCH_UNIT}",
        "--control-socket", f"/run/{BENCH_UNIT}/gunicorn.ctl", *options,
    )  # fmt: skip


def wait_until_serving(url: str, seconds: float = 30) -> None:
    """Block until ``url`` answers, so an attack starts on a healthy target."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def attack(target: str, url: str, seconds: int, connections: int, rate: int) -> Outcome:
    """Run slowhttptest in slowloris mode and read its per-second CSV."""
    wait_until_serving(url)
    with tempfile.TemporaryDirectory() as workdir:
        report = Path(workdir) / "report"
        subprocess.run(
            ["slowhttptest", "-H", "-c", str(connections), "-r", str(rate), "-i", "5", "-x", "24",
             "-p", "2", "-l", str(seconds), "-u", url, "-g", "-o", str(report)],
            check=True, capture_output=True, timeout=seconds + 60,
        )  # fmt: skip
        rows = list(csv.DictReader(report.with_suffix(".csv").open()))
    return Outcome(
        target=target,
        seconds=int(rows[-1]["Seconds"]),
        unavailable=sum(1 for row in rows if int(row["Service Available"]) == 0),
        peak_connections=max(int(row["Connected"]) for row in rows),
    )


def main() -> None:
    """Attack both targets in one run and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vm", default="kit-demo", help="demo VM container (default: kit-demo)")
    parser.add_argument("--seconds", type=int, default=35, help="length of each attack")
    parser.add_argument("--connections", type=int, default=8000, help="connections opened per attack")
    parser.add_argument("--rate", type=int, default=300, help="connections opened per second")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    address = vm_address(args.vm)
    start_direct_gunicorn(args.vm, 8000)
    try:
        results = [
            attack(
                "gunicorn direct (:8000)", f"http://{address}:8000/healthz", args.seconds, args.connections, args.rate
            ),
            attack("through nginx (:80)", f"http://{address}/healthz", args.seconds, args.connections, args.rate),
        ]
    finally:
        vm_exec(args.vm, "systemctl", "stop", BENCH_UNIT, check=False)

    workers = vm_exec(args.vm, "sh", "-c", "grep -E '^(workers|worker_class)' /etc/gunicorn/gunicorn.conf.py")
    print(f"slowloris: {args.connections} connections at {args.rate}/s, {args.seconds} s, probe every second")
    print("gunicorn: " + ", ".join(workers.split("\n")).strip(", "))
    print(f"{'target':<26}{'attack s':>9}{'unavailable s':>15}{'peak conns':>12}")
    for r in results:
        print(f"{r.target:<26}{r.seconds:>9}{r.unavailable:>15}{r.peak_connections:>12}")
    if args.json:
        attack_settings = {"connections": args.connections, "rate": args.rate, "seconds": args.seconds}
        args.json.write_text(json.dumps({"attack": attack_settings, "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
