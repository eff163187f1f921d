"""An operator's account on the controller: how users run the kit, for the scenarios' tests.

A normal account (no sudo) with its own copy of the kit and a virtualenv of
Debian's Python holding Ansible and uv at the kit's pins; its commands run
with a login's environment, nothing of root's or Molecule's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
# The operator's account on the controller, its checkout and its virtualenv.
OPERATOR = "kitop"
HOME = Path("/home") / OPERATOR
CHECKOUT = HOME / "kit"
VENV = HOME / "venv"
# Debian's Python, as an operator's virtualenv would use.
SYSTEM_PYTHON = "/usr/bin/python3"
# This machine's TLS and package-index settings, which an operator's login
# has too; nothing of the kit's or Molecule's, nothing in root's home.
MACHINE_ENV = re.compile(r"^(SSL_|PIP_|UV_|REQUESTS_CA|CURL_CA|(HTTPS?|NO)_PROXY$)", re.IGNORECASE)
# What the copy of the kit leaves out: the clone's own tooling and outputs.
NOT_COPIED = {".venv", ".git", "tune", ".pytest_cache", ".ruff_cache"}


def production_connection_vars() -> dict[str, dict]:
    """The ansible_* variables of inventories/production, by the group_vars file (group) that sets them."""
    by_group: dict[str, dict] = {}
    for path in sorted((PROJECT / "inventories/production/group_vars").iterdir()):
        files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
        group = path.name if path.is_dir() else path.stem
        for file in files:
            data = yaml.safe_load(file.read_text())
            if isinstance(data, dict):  # a vault file loads as one string
                by_group.setdefault(group, {}).update({k: v for k, v in data.items() if k.startswith("ansible_")})
    return by_group


def as_operator(*command: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command as the operator, in its checkout, with a login's environment and its virtualenv first."""
    login = {k: v for k, v in os.environ.items() if MACHINE_ENV.match(k) and not v.startswith("/root")}
    login |= {
        "HOME": str(HOME),
        "USER": OPERATOR,
        "LOGNAME": OPERATOR,
        "LANG": "C.UTF-8",
        "PATH": f"{VENV}/bin:/usr/local/bin:/usr/bin:/bin",
        "ANSIBLE_NOCOLOR": "1",
        # The scenario's apps read their sources from here, as Molecule's
        # own inventory does from the project.
        "MOLECULE_PROJECT_DIRECTORY": str(CHECKOUT),
    }
    login |= env or {}
    argv = ["runuser", "-u", OPERATOR, "--", "env", "-i", *(f"{k}={v}" for k, v in login.items()), *command]
    return subprocess.run(argv, cwd=CHECKOUT, capture_output=True, text=True, timeout=timeout, check=False)


def end_operator_sessions() -> None:
    """End the operator's processes (SSH masters kept by ControlPersist), so the account can go."""
    subprocess.run(["pkill", "-u", OPERATOR], capture_output=True, check=False)
    time.sleep(0.5)


def remove_operator_account() -> None:
    """Remove the account and its home, with whatever it still runs."""
    end_operator_sessions()
    subprocess.run(["userdel", "--force", "--remove", OPERATOR], capture_output=True, check=False)


def operator_account() -> None:
    """A fresh normal account: its own copy of the kit, virtualenv and SSH key, and no sudo."""
    if subprocess.run(["id", OPERATOR], capture_output=True, check=False).returncode == 0:
        remove_operator_account()
    # A home an earlier, interrupted run left behind.
    shutil.rmtree(HOME, ignore_errors=True)
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", OPERATOR], check=True)
    shutil.copytree(
        PROJECT, CHECKOUT, ignore=lambda folder, names: NOT_COPIED & set(names) if folder == str(PROJECT) else []
    )
    # What running the kit needs of its pinned controller tooling (Ansible
    # and uv, at controller.txt's versions) in a virtualenv of Debian's
    # Python. uv, from this run's own, installs them from its cache as copies.
    uv = str(Path(sys.executable).parent / "uv")
    subprocess.run([uv, "venv", "--quiet", "--seed", "--python", SYSTEM_PYTHON, str(VENV)], check=True)
    pins = str(PROJECT / "requirements/controller.txt")
    install = [uv, "pip", "install", "--quiet", "--link-mode", "copy", "--python", f"{VENV}/bin/python"]
    subprocess.run([*install, "--constraint", pins, "ansible", "uv"], check=True)
    # This machine's pip settings, which an operator's login has too.
    for conf in (Path.home() / ".config/pip/pip.conf",):
        if conf.is_file():
            (HOME / ".config/pip").mkdir(parents=True, exist_ok=True)
            shutil.copy(conf, HOME / ".config/pip/pip.conf")
    subprocess.run(["chown", "-R", f"{OPERATOR}:", str(HOME)], check=True)
    key = as_operator("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", f"{HOME}/.ssh/id_ed25519")
    assert key.returncode == 0, key.stderr


def operator_cannot_sudo() -> bool:
    """Whether the operator is refused sudo, so that a controller-side task with become would fail."""
    try:
        return as_operator("sudo", "-n", "true").returncode != 0
    except FileNotFoundError:
        return True


def foreign_files_in_home() -> str:
    """Files in the operator's home that someone else owns (a build run as root would leave some)."""
    return subprocess.run(
        ["find", str(HOME), "-not", "-user", OPERATOR], capture_output=True, text=True, check=True
    ).stdout
