"""Slow-header attack on Gunicorn directly and through the kit's Nginx, side by side.

Run by benchmarks/report.py (section 5, `make bench`), or alone on the demo
VM (`make demo`): inside the VM it starts a second Gunicorn with the
service's own configuration on TCP port 8000 (a transient systemd unit,
removed afterwards), then runs the same slowhttptest attack against that
port and against Nginx on port 80, and prints how many seconds the
attacker's probe found the service unavailable. The attack runs inside the
demo VM, on its loopback (the firewall admits only Nginx's ports from
outside); each attack stops by itself.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
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


def start_direct_gunicorn(
    vm: str,
    port: int,
    *options: str,
    environment: tuple[str, ...] = (),
    unit: str = BENCH_UNIT,
    properties: tuple[str, ...] = (),
) -> None:
    """Serve the app with the service's own config on TCP, bypassing Nginx.

    ``options`` (Gunicorn's command line, e.g. "--workers", "3") override the
    config file; ``environment`` adds NAME=value settings to the app's own;
    ``properties`` are more systemd unit settings (e.g. "CPUWeight=300").
    """
    vm_exec(vm, "systemctl", "stop", unit, check=False)
    vm_exec(
        vm, "systemd-run", f"--unit={unit}", "--collect",
        "--property=User=sample_app", "--property=Group=sample_app",
        "--property=EnvironmentFile=/etc/sample_app/app.env",
        *(f"--property=Environment={setting}" for setting in environment),
        *(f"--property={setting}" for setting in properties),
        f"--property=RuntimeDirectory={unit}",
        "--property=WorkingDirectory=/opt/sample_app/current",
        GUNICORN, "--config", "/etc/gunicorn/sample_app.conf.py", "--bind", f"0.0.0.0:{port}",
        "--pid", f"/run/{unit}/gunicorn.pid", "--worker-tmp-dir", f"/run/{unit}",
        "--control-socket", f"/run/{unit}/gunicorn.ctl", *options,
    )  # fmt: skip
    wait_until_serving(vm, f"http://127.0.0.1:{port}/healthz")


def wait_until_serving(vm: str, url: str, seconds: float = 30) -> None:
    """Block until ``url`` answers inside the VM, so a measurement starts on a healthy target."""
    probe = (
        "import time, urllib.request\n"
        f"end = time.monotonic() + {seconds}\n"
        "while True:\n"
        "    try:\n"
        f"        urllib.request.urlopen({url!r}, timeout=2).read(); break\n"
        "    except OSError:\n"
        "        if time.monotonic() > end: raise\n"
        "        time.sleep(0.2)\n"
    )
    if subprocess.run(["docker", "exec", vm, "python3", "-c", probe], capture_output=True).returncode != 0:
        raise SystemExit(f"{url} did not answer within {seconds:.0f} s in {vm}")


def attack(vm: str, target: str, url: str, seconds: int, connections: int, rate: int) -> Outcome:
    """Run slowhttptest in slowloris mode inside the VM against ``url`` and read its per-second CSV.

    From inside: the firewall admits only Nginx's ports from outside, and
    the attack's source (127.0.0.1) is then not the legitimate clients'.
    """
    vm_exec(
        vm,
        "sh",
        "-c",
        "command -v slowhttptest >/dev/null || (apt-get update -qq && apt-get install -y -qq slowhttptest)",
    )
    report = "/tmp/kit-slowloris"
    vm_exec(vm, "rm", "-f", f"{report}.csv", f"{report}.html")
    vm_exec(
        vm, "timeout", str(seconds + 60), "slowhttptest", "-H", "-c", str(connections), "-r", str(rate), "-i", "5",
        "-x", "24", "-p", "2", "-l", str(seconds), "-u", url, "-g", "-o", report,
    )  # fmt: skip
    rows = list(csv.DictReader(vm_exec(vm, "cat", f"{report}.csv").splitlines()))
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

    settings = (args.seconds, args.connections, args.rate)
    try:
        start_direct_gunicorn(args.vm, 8000)
        results = [
            attack(args.vm, "gunicorn direct (:8000)", "http://127.0.0.1:8000/healthz", *settings),
            attack(args.vm, "through nginx (:80)", "http://127.0.0.1/healthz", *settings),
        ]
    finally:
        vm_exec(args.vm, "systemctl", "stop", BENCH_UNIT, check=False)

    print(f"slowloris: {args.connections} connections at {args.rate}/s, {args.seconds} s, probe every second")
    print(f"{'target':<26}{'attack s':>9}{'unavailable s':>15}{'peak conns':>12}")
    for r in results:
        print(f"{r.target:<26}{r.seconds:>9}{r.unavailable:>15}{r.peak_connections:>12}")
    if args.json:
        attack_settings = {"connections": args.connections, "rate": args.rate, "seconds": args.seconds}
        args.json.write_text(json.dumps({"attack": attack_settings, "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
