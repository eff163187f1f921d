"""A fleet behind a load balancer, run by an operator from a normal account over SSH.

One balancer (kit-lb) and two app hosts (kit-web1 on Debian 12, kit-web2 on
Debian 13). Requests go through the balancer only; the operator's runs are
the rolling deploys and drains of a working day; the drills stop an app host
and ship a release that breaks on one host's Python.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import (
    ADDRESSES,
    APP,
    BALANCER,
    OPERATOR_INVENTORY,
    PROJECT,
    SERVER_NAME,
    WEB_HOSTS,
    Stream,
    get,
    health,
    host,
)
from kit_operator import CHECKOUT, HOME, OPERATOR, as_operator, foreign_files_in_home, operator_cannot_sudo

SECRET = APP["secret_key"]
NEW_SECRET = "rotated-fleet-secret-never-printed-5d1e"
# Everything the operator's runs printed, searched for secrets at the end.
OUTPUTS: list[str] = []


def releases_served() -> dict[str, str]:
    """The release each app host serves, by its own health answer on loopback."""
    served = {}
    for name in WEB_HOSTS:
        answer = host(name).check_output(
            "python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('http://127.0.0.1/healthz',"
            f" headers={{'Host': '{APP['server_names'][0]}'}}), timeout=5).read().decode())\""
        )
        served[name] = json.loads(answer)["release"]
    return served


def release_of_app(version: str, breaks_on_python_313: bool = False) -> str:
    """A copy of the sample app at another version, in the operator's checkout: a new release to deploy."""
    copy = CHECKOUT / "releases" / version
    shutil.copytree(PROJECT / "app", copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests"))
    pyproject = copy / "pyproject.toml"
    pyproject.write_text(re.sub(r'(?m)^version = ".*"$', f'version = "{version}"', pyproject.read_text()))
    if breaks_on_python_313:
        init = copy / "src/sample_app/__init__.py"
        init.write_text(
            init.read_text().replace(
                "    app = Flask(__name__)\n",
                "    import sys\n\n    if sys.version_info >= (3, 13):\n"
                "        raise RuntimeError('this release does not run on Python 3.13')\n"
                "    app = Flask(__name__)\n",
            )
        )
    apps = [{**APP, "source": {"path": str(copy)}, "lock_dir": str(CHECKOUT / "app/requirements")}]
    extra = CHECKOUT / f"release-{version}.json"
    extra.write_text(json.dumps({"flask_apps": apps}))
    subprocess.run(["chown", "-R", f"{OPERATOR}:", str(CHECKOUT)], check=True)
    return f"@{extra}"


def run(operator: dict, book: str, *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook as the operator, against the fleet's inventory, timed."""
    start = time.monotonic()
    result = as_operator("ansible-playbook", book, "-i", OPERATOR_INVENTORY, *args, env=operator)
    result.seconds = time.monotonic() - start
    OUTPUTS.append(result.stdout + result.stderr)
    return result


def recap(result: subprocess.CompletedProcess) -> dict[str, dict[str, int]]:
    """The play recap's counts, by host."""
    return {
        name: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
        for name, counts in re.findall(r"(?m)^(\S+)\s+:\s+(ok=.*)$", result.stdout)
    }


def host_changes(output: str) -> list[str]:
    """The tasks (and hosts) that would change a fleet host; not the controller's own cache (``-> localhost``)."""
    task, changed = "", []
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif match := re.match(r"changed: (\[kit-[\w-]+\])(?! ->)", line):
            changed.append(f"{task} {match.group(1)}")
    return changed


def test_requests_through_the_balancer_reach_both_app_hosts():
    answered = {health()["hostname"] for _ in range(12)}
    assert answered == {host(name).check_output("hostname") for name in WEB_HOSTS}


def test_app_hosts_admit_nginx_from_the_balancer_only():
    # The controller is a client: dropped (no answer at all), not refused.
    for name in WEB_HOSTS:
        with pytest.raises(OSError, match="timed out"):
            get("/healthz", timeout=3, address=ADDRESSES[name])
    # The balancer is admitted.
    probe = (
        "python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('http://{}/healthz',"
        " headers={{'Host': 'kit.test'}}), timeout=5).status)\""
    )
    for name in WEB_HOSTS:
        assert host("kit-lb").check_output(probe.format(ADDRESSES[name])) == "200"


def test_the_app_sees_the_real_client_through_both_tiers():
    # The controller reaches the balancer from the scenario bridge's gateway.
    gateway = BALANCER.rsplit(".", 1)[0] + ".1"
    for _ in range(4):
        status, body = get("/")
        assert status == 200
        assert json.loads(body)["client"] == gateway
    # And the app hosts' own logs say so too, never the balancer's address.
    for name in WEB_HOSTS:
        log = host(name).check_output(f"tail -n 50 /var/log/nginx/{APP['name']}.access.log")
        assert gateway in log and ADDRESSES["kit-lb"] not in log, (name, log)


def test_the_edge_limits_each_client_not_the_balancer():
    # One client over the balancer's rate (30 r/s, burst 30) gets 429s...
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: get("/")[0], range(150)))
    assert 429 in statuses and 200 in statuses, statuses
    # ...while another client (an app host, as a client of the balancer) is
    # served. The limit was the balancer's: the app hosts behind it, which
    # count clients too, turned none away.
    other = host(WEB_HOSTS[0]).run(
        f"python3 -c \"import urllib.request as u; print(u.urlopen(u.Request('http://{BALANCER}/',"
        " headers={'Host': 'kit.test'}), timeout=5).status)\""
    )
    assert other.stdout.strip() == "200", other.stderr
    for name in WEB_HOSTS:
        log = host(name).check_output(f"tail -n 300 /var/log/nginx/{APP['name']}.access.log")
        assert '" 429 ' not in log, name
    time.sleep(2)


def test_a_client_cannot_claim_another_address_or_scheme():
    # What a client says of itself in forwarding headers is not believed:
    # the balancer replaces it, and the app hosts believe the balancer only.
    request = urllib.request.Request(
        f"http://{BALANCER}/",
        headers={
            "Host": SERVER_NAME,
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "X-Real-IP": "198.51.100.7",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        seen = json.loads(reply.read())
    assert (seen["client"], seen["scheme"]) == (BALANCER.rsplit(".", 1)[0] + ".1", "http")


def test_a_normal_account_over_ssh_sees_no_change_to_make(operator):
    # The operator cannot sudo here, so a controller-side task that asked for
    # it (become inherited from a play on the hosts) would fail this run.
    assert operator_cannot_sudo(), f"{OPERATOR} can sudo here: the test would not catch become on localhost"
    result = run(operator, "site.yml", "--check", "--diff")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    print(f"\nsite.yml --check --diff over SSH, 3 hosts, as {OPERATOR}: {result.seconds:.0f} s")
    assert {name for name in recap(result) if name != "localhost"} == {"kit-lb", *WEB_HOSTS}
    assert host_changes(result.stdout) == []
    # The build ran as the operator, into its own cache.
    assert (HOME / ".cache/flask-kit").is_dir()
    assert foreign_files_in_home() == ""


def test_a_changed_secret_is_reported_and_never_printed(operator):
    rotated = CHECKOUT / "rotated.json"
    rotated.write_text(json.dumps({"flask_apps": [{**APP, "secret_key": NEW_SECRET}]}))
    subprocess.run(["chown", f"{OPERATOR}:", str(rotated)], check=True)
    result = run(operator, "playbooks/web.yml", "--check", "--diff", "-e", f"@{rotated}")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # The app's environment file would change, on both app hosts.
    assert {name for name in WEB_HOSTS if any(f"[{name}]" in line for line in host_changes(result.stdout))} == set(
        WEB_HOSTS
    ), result.stdout[-4000:]
    output = result.stdout + result.stderr
    assert NEW_SECRET not in output and SECRET not in output


def test_a_rolling_deploy_under_load_fails_no_request(operator):
    before = releases_served()
    with Stream() as stream:
        result = run(operator, "playbooks/deploy.yml", "-e", release_of_app("1.1.0"), "-e", "web_serial=1")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    after = releases_served()
    print(
        f"\nrolling deploy through the balancer: sent {stream.sent}, failed {len(stream.failed)}; "
        f"releases answered {stream.releases}; deploy {result.seconds:.0f} s"
    )
    assert stream.failed == []
    assert all(after[name] != before[name] for name in WEB_HOSTS), (before, after)
    # The run ends with the table of which host serves which release.
    for name in WEB_HOSTS:
        assert re.search(rf"{name} \| {APP['name']} \| {re.escape(after[name])}", result.stdout), result.stdout[-3000:]


def test_a_release_failing_on_the_second_host_stops_the_rollout(operator):
    before = releases_served()
    with Stream(threads=2) as stream:
        result = run(
            operator,
            "playbooks/deploy.yml",
            "-e",
            release_of_app("1.2.0", breaks_on_python_313=True),
            "-e",
            "web_serial=1",
        )
    after = releases_served()
    print(f"\nrollout stopped at kit-web2: sent {stream.sent}, failed {len(stream.failed)}")
    assert result.returncode != 0
    assert "does not run on Python 3.13" in result.stdout, result.stdout[-3000:]
    first, second = WEB_HOSTS
    assert after[first] != before[first], "the first host should serve the new release"
    assert after[second] == before[second], "the failed host should still serve its old release"
    assert stream.failed == []
    # Both serve through the balancer.
    assert {health()["hostname"] for _ in range(12)} == {host(name).check_output("hostname") for name in WEB_HOSTS}


def test_a_drained_host_gets_no_new_request_and_comes_back(operator):
    drained = WEB_HOSTS[0]
    with Stream(threads=2) as stream:
        result = run(operator, "playbooks/drain.yml", "-e", f"host={drained}", "-e", "state=drained")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        answered = {health()["hostname"] for _ in range(12)}
    assert answered == {host(WEB_HOSTS[1]).check_output("hostname")}
    assert stream.failed == []
    # The balancers' play (site.yml's) keeps it drained; active puts it back.
    again = run(operator, "playbooks/lb.yml")
    assert again.returncode == 0, again.stdout[-4000:]
    assert recap(again)["kit-lb"]["changed"] == 0, again.stdout[-3000:]
    assert {health()["hostname"] for _ in range(12)} == answered
    result = run(operator, "playbooks/drain.yml", "-e", f"host={drained}", "-e", "state=active")
    assert result.returncode == 0, result.stdout[-4000:]
    assert len({health()["hostname"] for _ in range(12)}) == 2


def test_the_hosts_were_reached_over_ssh_as_the_sudo_user_and_logged_no_secret(operator):
    for name in ("kit-lb", *WEB_HOSTS):
        sshd = host(name).check_output("journalctl -o cat --no-pager -u ssh.service")
        assert "Accepted publickey for deploy" in sshd, f"{name}: {sshd[-1000:]}"
        sudo = host(name).check_output("journalctl -o cat --no-pager _COMM=sudo")
        assert re.search(r"deploy : .*USER=root", sudo), f"{name} was not reached as the sudo user"
        journal = host(name).check_output("journalctl -o cat --no-pager")
        assert SECRET not in journal and NEW_SECRET not in journal, f"an app secret is in {name}'s journal"
    assert len(OUTPUTS) >= 5
    assert not [output for output in OUTPUTS if SECRET in output or NEW_SECRET in output], "a secret in a run's output"


def test_an_app_host_that_dies_is_routed_around():
    # Last: the host comes back by booting again. It dies as on a power
    # cut (SIGKILL to the whole container) while GETs stream through the
    # balancer; those it held are tried on the other host.
    dead = WEB_HOSTS[1]
    with Stream(threads=4, limit_seconds=25) as stream:
        time.sleep(3)
        subprocess.run(["docker", "kill", dead], check=True, capture_output=True)
        time.sleep(22)
    print(f"\none app host killed under load: sent {stream.sent}, failed {len(stream.failed)}")
    subprocess.run(["docker", "start", dead], check=True, capture_output=True)
    assert stream.sent > 100
    assert stream.failed == []
    # Booted again, it is back in service once the balancer tries it again.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len({health()["hostname"] for _ in range(12)}) < 2:
        time.sleep(2)
    assert len({health()["hostname"] for _ in range(12)}) == 2, "the host that died did not come back"


def test_the_monitoring_host_scrapes_every_host_through_their_firewalls():
    # Prometheus, on the balancer, answers its own loopback only.
    code = (
        "import json, urllib.request as u; d = json.load(u.urlopen("
        "'http://127.0.0.1:9090/api/v1/targets?state=active', timeout=10))['data']['activeTargets'];"
        " print(json.dumps([[t['labels']['host'], t['labels']['job'], t['health']] for t in d]))"
    )
    deadline = time.monotonic() + 60
    while True:
        targets = json.loads(host("kit-lb").check_output(f"python3 -c {shlex.quote(code)}"))
        if (targets and all(health == "up" for _, _, health in targets)) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert {name for name, _, _ in targets} == {"kit-lb", *WEB_HOSTS}
    assert [target for target in targets if target[2] != "up"] == []
    # An app host's exporters answer the monitoring host, and no one else.
    node = f"http://{ADDRESSES[WEB_HOSTS[0]]}:9100/metrics"
    with pytest.raises(OSError, match="timed out"):
        urllib.request.urlopen(node, timeout=3)
    fetch = f"python3 -c \"import urllib.request as u; print(u.urlopen('{node}', timeout=5).status)\""
    assert host("kit-lb").check_output(fetch) == "200"
