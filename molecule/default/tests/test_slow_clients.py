"""Slowloris and slow-POST attacks with slowhttptest: the app stays available.

Each attack holds well over 1000 connections for more than 30 s against
this test VM only, and stops by itself (-l). Meanwhile a legitimate client
on another address (the VM's own loopback) asks every second, with a 1 s
deadline.
"""

import csv
import json
import subprocess
import threading

import pytest

ATTACK_SECONDS = 35

# Asks /healthz once a second for the given seconds, 1 s deadline each; prints a JSON list of outcomes.
LEGIT_CLIENT = """
import json, sys, time, urllib.request
outcomes = []
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    start = time.monotonic()
    try:
        req = urllib.request.Request("http://127.0.0.1/healthz", headers={"Host": "kit.test"})
        outcomes.append(urllib.request.urlopen(req, timeout=1).status)
    except Exception as error:
        outcomes.append(repr(error))
    time.sleep(max(0, 1 - (time.monotonic() - start)))
print(json.dumps(outcomes))
"""

# What each attack must have held open at its peak: slow headers are only
# cut by the timeout; slow bodies are also capped per address by limit_conn.
MIN_PEAK = {"slowloris": 1000, "slow body": 1}

ATTACKS = {
    # Slow headers: 8000 connections opened at 300/s; Nginx closes each after
    # client_header_timeout, so about 3000 are open at any time.
    "slowloris": ["-H", "-c", "8000", "-r", "300", "-i", "5", "-x", "24", "-u", "http://{address}/"],
    # Slow bodies: POST with a large Content-Length, trickled every 5 s.
    "slow body": [
        "-B",
        "-c",
        "8000",
        "-r",
        "300",
        "-i",
        "5",
        "-s",
        "65536",
        "-x",
        "24",
        "-t",
        "POST",
        "-u",
        "http://{address}/echo",
    ],
}


@pytest.mark.parametrize(("name", "attack"), ATTACKS.items(), ids=ATTACKS.keys())
def test_app_stays_available_under_attack(host, address, tmp_path, name, attack):
    legit = {}

    def legitimate_client():
        legit["run"] = host.run(f"python3 -c '{LEGIT_CLIENT}' {ATTACK_SECONDS - 5}")

    client = threading.Thread(target=legitimate_client)
    client.start()
    report = tmp_path / "attack"
    subprocess.run(
        [
            "slowhttptest",
            *[a.format(address=address) for a in attack],
            "-p",
            "2",
            "-l",
            str(ATTACK_SECONDS),
            "-g",
            "-o",
            str(report),
        ],
        check=True,
        capture_output=True,
        timeout=ATTACK_SECONDS + 30,
    )
    client.join()

    rows = list(csv.DictReader(report.with_suffix(".csv").open()))
    seconds = int(rows[-1]["Seconds"])
    peak = max(int(r["Connected"]) for r in rows)
    unavailable = [r["Seconds"] for r in rows if int(r["Service Available"]) == 0]
    outcomes = json.loads(legit["run"].stdout)
    print(
        f"\n[attack] {seconds} s, peak {peak} open connections, probe unavailable at {unavailable or 'no second'};"
        f" legitimate client: {outcomes.count(200)}/{len(outcomes)} answered 200 within 1 s"
    )
    assert seconds >= 30
    assert peak >= MIN_PEAK[name]
    assert unavailable == []
    assert outcomes and all(outcome == 200 for outcome in outcomes)
