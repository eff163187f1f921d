"""`site.yml --check --diff` the way users run it, predicting no change on a converged host.

``ansible-playbook`` runs from a normal account on the controller (no sudo
there, its own virtualenv and checkout of the kit), over SSH, as a sudo
user on the host, with an inventory shaped like inventories/production: the
connection settings (``ansible_user``, ``ansible_become``, ...) sit in the
same group_vars files that production sets them in. Had production set
``ansible_become`` for ``all``, the implicit localhost would get it, the
controller-side tasks (the build, the lock and file checks, which run in
check mode too) would ask for sudo on the operator's machine, and the runs
here would fail.

A second run (the apps' part, playbooks/web.yml) changes an app's secret:
it must report the change without printing the secret, and the host's
journal (sshd, sudo) must hold none.
(Molecule's check step runs site.yml on the blank host before converge.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pytest
import yaml
from conftest import APPS, PROJECT, SAMPLE, apps_with
from kit_operator import (
    CHECKOUT,
    HOME,
    OPERATOR,
    as_operator,
    foreign_files_in_home,
    operator_account,
    operator_cannot_sudo,
    production_connection_vars,
    remove_operator_account,
)

INVENTORY = "inventories/operator"
NEW_SECRET = "rotated-secret-never-printed-7f3a9c"


def host_over_ssh(host, remote_user: str, public_key: str) -> None:
    """What a VM provider gives: sshd, sudo, and a user with the operator's key and passwordless sudo."""
    if host.run("command -v sshd && command -v sudo").rc != 0:
        install = "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server sudo"
        if host.run(install).rc != 0:
            host.run_expect([0], f"apt-get update -q && {install}")
    host.run(f"id {remote_user} || useradd --create-home --shell /bin/bash {remote_user}")
    host.run_expect([0], f"echo '{remote_user} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{remote_user}")
    host.run_expect([0], f"chmod 0440 /etc/sudoers.d/{remote_user} && visudo -cqf /etc/sudoers.d/{remote_user}")
    home = f"/home/{remote_user}"
    host.run_expect([0], f"install -d -m 0700 -o {remote_user} -g {remote_user} {home}/.ssh")
    host.run_expect([0], f"echo '{public_key}' > {home}/.ssh/authorized_keys")
    host.run_expect([0], f"chown {remote_user}: {home}/.ssh/authorized_keys && chmod 0600 {home}/.ssh/authorized_keys")
    host.run_expect([0], "systemctl enable --now ssh")


def operator_inventory(address: str) -> None:
    """inventories/operator: the scenario's hosts and apps, connected as inventories/production connects."""
    connection = production_connection_vars()
    assert connection.get("web", {}).get("ansible_user"), "inventories/production names no ansible_user for web"
    inventory = CHECKOUT / INVENTORY
    (inventory / "group_vars").mkdir(parents=True)
    hosts = {
        "web": {"hosts": {"kit-molecule": {"ansible_host": address}}},
        "monitoring": {"hosts": {"kit-molecule": None}},
    }
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    scenario = PROJECT / "molecule/default/inventory/group_vars"
    for group in {path.stem for path in scenario.glob("*.yml")} | set(connection):
        source = scenario / f"{group}.yml"
        data = yaml.safe_load(source.read_text()) if source.exists() else {}
        (inventory / "group_vars" / f"{group}.yml").write_text(
            yaml.safe_dump({**connection.get(group, {}), **data}, sort_keys=False)
        )
    # The second run's apps, with sample_app's secret changed: a file, as an
    # operator keeps secrets off the command line.
    (CHECKOUT / "rotated.json").write_text(
        json.dumps({"flask_apps": apps_with(**{SAMPLE: {"secret_key": NEW_SECRET}})})
    )
    subprocess.run(["chown", "-R", f"{OPERATOR}:", str(CHECKOUT)], check=True)


@pytest.fixture(scope="module")
def operator_runs(host, address) -> dict:
    """The operator's --check --diff run, and one with a secret changed, with when they started on the host."""
    if os.geteuid() != 0:
        pytest.skip("creating the operator's account on the controller needs root (CI runs as root)")
    remote_user = production_connection_vars()["web"]["ansible_user"]
    operator_account()
    host_over_ssh(host, remote_user, (HOME / ".ssh/id_ed25519.pub").read_text().strip())
    # The operator accepts the host's key once, as for a new VM.
    scan = subprocess.run(["ssh-keyscan", "-T", "10", address], capture_output=True, text=True, check=False)
    assert scan.returncode == 0 and scan.stdout, scan.stderr
    (HOME / ".ssh/known_hosts").write_text(scan.stdout)
    subprocess.run(["chown", f"{OPERATOR}:", str(HOME / ".ssh/known_hosts")], check=True)
    operator_inventory(address)

    runs = {"since": host.check_output("date +%s"), "remote_user": remote_user}
    # The secrets are the apps' part of site.yml: the second run is that part.
    for name, book, extra in (("check", "site.yml", []), ("rotated", "playbooks/web.yml", ["-e", "@rotated.json"])):
        start = time.monotonic()
        runs[name] = as_operator("ansible-playbook", book, "-i", INVENTORY, "--check", "--diff", *extra)
        runs[f"{name}_seconds"] = time.monotonic() - start
    print(f"\nsite.yml --check --diff as {OPERATOR} over SSH: {runs['check_seconds']:.0f} s")
    yield runs
    remove_operator_account()


def recap(run) -> str:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    line = re.search(r"(?m)^kit-molecule\s+:.*$", run.stdout)
    assert line and re.search(r"\bok=[1-9]", line.group(0)) and "unreachable=0" in line.group(0), run.stdout[-2000:]
    return line.group(0)


def host_changes(output: str) -> list[str]:
    """The tasks that would change the host.

    Not those delegated to the controller: the operator's first run fills
    its own wheel cache (``changed: [kit-molecule -> localhost]``).
    """
    task, changed = "", []
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif re.match(r"changed: \[kit-molecule\]", line):
            changed.append(task)
    return changed


def test_a_normal_account_over_ssh_sees_no_change_to_make(operator_runs):
    recap(operator_runs["check"])
    assert host_changes(operator_runs["check"].stdout) == [], operator_runs["check"].stdout[-4000:]


def test_a_changed_secret_is_reported_and_never_printed(host, operator_runs):
    recap(operator_runs["rotated"])
    # The app's environment file would change (and with it the app's units'
    # restart); the value is in neither run's output nor the host's journal.
    assert host_changes(operator_runs["rotated"].stdout), operator_runs["rotated"].stdout[-4000:]
    journal = host.check_output(f"journalctl --since @{operator_runs['since']} -o cat")
    secrets = [NEW_SECRET] + [app["secret_key"] for app in APPS.values() if app.get("secret_key")]
    for name in ("check", "rotated"):
        output = operator_runs[name].stdout + operator_runs[name].stderr
        assert not [secret for secret in secrets if secret in output], f"a secret in the output of the {name} run"
    assert not [secret for secret in secrets if secret in journal], "a secret in the host's journal"


def test_the_controller_was_never_asked_for_root(operator_runs):
    # The operator cannot sudo: a controller-side task with become would
    # have failed the runs above.
    assert operator_cannot_sudo(), f"{OPERATOR} can sudo here: the test would not catch become on localhost"
    # The build ran as the operator, into its cache, and left nothing owned
    # by anyone else in its home.
    assert (HOME / ".cache/flask-kit").is_dir()
    foreign = foreign_files_in_home()
    assert foreign == "", foreign


def test_the_host_was_reached_over_ssh_as_the_sudo_user(host, operator_runs):
    user, since = operator_runs["remote_user"], operator_runs["since"]
    sshd = host.check_output(f"journalctl --since @{since} -o cat -u ssh.service")
    assert f"Accepted publickey for {user}" in sshd, sshd[-2000:]
    sudo = host.check_output(f"journalctl --since @{since} -o cat _COMM=sudo")
    assert re.search(rf"{user} : .*USER=root", sudo), sudo[-2000:]
