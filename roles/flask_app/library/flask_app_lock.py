#!/usr/bin/python
"""Ansible module: an app's hash-locked requirements for one Python, and whether it is current.

The lock pins every file a release installs. Its first line records a digest
of what it was compiled from (the app's dependencies or pin, the server
requirement, the Python version), so a deploy can tell a lock that is older
than its inputs and stop before any host changes.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: flask_app_lock
short_description: Compile, or check, an app's hash-locked requirements for one Python
description:
  - state=present compiles the lock with uv (controller only) when it is missing or its inputs changed;
    force recompiles it anyway (newer versions within the pins).
  - state=checked only reads it, and fails naming the app, the file and playbooks/lock.yml when it is
    missing or older than the app's pin or pyproject dependencies.
options:
  name: {description: App name., type: str, required: true}
  source_kind: {description: path, wheel or package., type: str, required: true, choices: [path, wheel, package]}
  source: {description: Project directory, wheel file or requirement., type: str, required: true}
  python_version: {description: Target Python as major.minor., type: str, required: true}
  server_requirement: {description: The WSGI server requirement added to every lock., type: str, required: true}
  wheelhouse: {description: Operator's directory of wheels or sdists (find-links)., type: str, default: ""}
  dest: {description: The lock file., type: path, required: true}
  uv: {description: The uv binary (state=present)., type: path, default: uv}
  state: {description: present or checked., type: str, default: present, choices: [present, checked]}
  force: {description: Recompile even when the inputs are unchanged., type: bool, default: false}
author: flask-deployment-kit
"""

EXAMPLES = r"""
- name: Lock billing for Python 3.13
  flask_app_lock:
    name: billing
    source_kind: package
    source: billing==2.0
    python_version: "3.13"
    server_requirement: gunicorn>=23
    dest: inventories/production/locks/billing/py3.13.txt
  delegate_to: localhost
"""

RETURN = r"""
digest: {description: sha256 of the lock's inputs., type: str, returned: always}
"""

import hashlib
import json
import re
import subprocess
import tempfile
import tomllib
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

HEADER = re.compile(r"^# flask-kit lock input sha256:([0-9a-f]{64})", re.MULTILINE)


class LockError(Exception):
    """A lock that cannot be used or made; the message says what to do."""


def dist_name(requirement: str) -> str:
    """Distribution name at the start of a requirement string."""
    return re.split(r"[\s\[=<>!~;@]", requirement.strip(), maxsplit=1)[0]


def inputs(params: dict) -> dict:
    """List what the lock depends on: change any of it and the lock is stale."""
    kind, source = params["source_kind"], params["source"]
    found: dict = {
        "kind": kind,
        "python": params["python_version"],
        "server": params["server_requirement"],
    }
    if kind == "path":
        pyproject = Path(source) / "pyproject.toml"
        if not pyproject.is_file():
            raise LockError(f"app {params['name']!r}: source.path {source} has no pyproject.toml")
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        found["dependencies"] = sorted(project.get("dependencies", []))
        found["requires-python"] = project.get("requires-python", "")
    elif kind == "wheel":
        wheel = Path(source)
        if not wheel.is_file():
            raise LockError(f"app {params['name']!r}: source.wheel {source} is not a file on the controller")
        found["wheel"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    else:
        found["package"] = source.strip()
    return found


def digest(params: dict) -> str:
    """sha256 of the inputs, as written in the lock's first line."""
    return hashlib.sha256(json.dumps(inputs(params), sort_keys=True).encode()).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    """Read the digest a lock file was made from, or None for a missing or foreign file."""
    if not lock.is_file():
        return None
    match = HEADER.search(lock.read_text()[:1000])
    return match.group(1) if match else None


def compile_lock(params: dict, want: str) -> str:
    """Run uv pip compile; return the lock text with its header."""
    kind, source = params["source_kind"], params["source"]
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "kit.in"
        lines = [params["server_requirement"]]
        argv = [params["uv"], "pip", "compile", "--quiet", "--no-header", "--generate-hashes"]
        argv += ["--python-version", params["python_version"], "--output-file", str(Path(tmp) / "lock.txt")]
        if kind == "path":
            argv.append(str(Path(source) / "pyproject.toml"))
        elif kind == "wheel":
            lines.append(str(Path(source).resolve()))
            argv += ["--no-emit-package", dist_name(Path(source).name.split("-")[0])]
        else:
            lines.append(source)
        extra.write_text("\n".join(lines) + "\n")
        argv.append(str(extra))
        if params["wheelhouse"]:
            argv += ["--find-links", params["wheelhouse"]]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise LockError(f"app {params['name']!r}: uv pip compile failed:\n{(done.stdout + done.stderr)[-3000:]}")
        body = (Path(tmp) / "lock.txt").read_text()
    body = body.replace(str(extra), "kit: server requirement").replace(tmp + "/", "")
    header = (
        f"# flask-kit lock input sha256:{want}\n"
        f"# App {params['name']} on Python {params['python_version']}: every file a release installs, with its\n"
        "# hashes. Made by playbooks/lock.yml; commit it, and re-run that playbook when the app's pin or\n"
        "# dependencies change.\n"
    )
    return header + body


def lock(params: dict, check_mode: bool = False) -> dict:
    """Check or make the lock; return the module result."""
    dest = Path(params["dest"])
    want = digest(params)
    have = recorded_digest(dest)
    command = "ansible-playbook playbooks/lock.yml -i inventories/<env>"
    if params["state"] == "checked":
        if have is None:
            raise LockError(
                f"app {params['name']!r}: lock {dest} for Python {params['python_version']} is missing"
                f" (key 'lock_dir'); make it with: {command}"
            )
        if have != want:
            raise LockError(
                f"app {params['name']!r}: lock {dest} is older than the app's pin or pyproject dependencies"
                f" (key 'source'); re-make it with: {command}"
            )
        return {"changed": False, "digest": want}
    if have == want and not params["force"]:
        return {"changed": False, "digest": want}
    if check_mode:
        return {"changed": True, "digest": want}
    text = compile_lock(params, want)
    changed = not dest.is_file() or dest.read_text() != text
    if changed:
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    return {"changed": changed, "digest": want}


def main() -> None:
    """Ansible entry point."""
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "source_kind": {"type": "str", "required": True, "choices": ["path", "wheel", "package"]},
            "source": {"type": "str", "required": True},
            "python_version": {"type": "str", "required": True},
            "server_requirement": {"type": "str", "required": True},
            "wheelhouse": {"type": "str", "default": ""},
            "dest": {"type": "path", "required": True},
            "uv": {"type": "path", "default": "uv"},
            "state": {"type": "str", "default": "present", "choices": ["present", "checked"]},
            "force": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**lock(module.params, module.check_mode))
    except LockError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
