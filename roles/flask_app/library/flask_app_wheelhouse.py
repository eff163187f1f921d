#!/usr/bin/python
"""Ansible module: the wheelhouse of one app release for one Python and platform.

Runs on the controller (delegate_to: localhost). Hosts never reach a package
index, so everything a release installs is gathered here, checked against the
lock's hashes, and packed into one archive the host unpacks and installs with
``--no-index --require-hashes``.
"""

from __future__ import annotations

DOCUMENTATION = r"""
module: flask_app_wheelhouse
short_description: Gather, build and pack the wheels of one app release on the controller
description:
  - Downloads every file of a hash-locked requirements file for a target Python and platform (the lock's
    hashes are checked), builds pure-Python source distributions into wheels, builds or takes the app's own
    wheel, and packs exactly these wheels with a requirements file of their sha256 into RELEASE.tar.
  - The release id is VERSION-HASH, HASH the first 12 hex of the sha256 of that requirements file, so
    the same code and dependencies give the same id and an unchanged app changes nothing.
  - A source distribution that builds a platform-specific wheel (compiled code) fails, naming the package.
options:
  name: {description: App name (for messages)., type: str, required: true}
  source_kind: {description: path, wheel or package., type: str, required: true, choices: [path, wheel, package]}
  source: {description: Project directory, wheel file or requirement., type: str, required: true}
  lock: {description: Hash-locked requirements file for the target Python., type: path, required: true}
  python_version: {description: Target Python as major.minor., type: str, required: true}
  platforms: {description: Accepted platform tags, best first., type: list, elements: str, required: true}
  wheelhouse: {description: Operator's directory of wheels or sdists to take files from., type: str, default: ""}
  dest: {description: Controller directory for this app's build files., type: path, required: true}
  python: {description: Controller Python with pip., type: path, required: true}
  uv: {description: The uv binary, used to build wheels., type: path, required: true}
  build_constraints: {description: Pins for build backends (reproducible wheels)., type: path, required: true}
  source_date_epoch: {description: Timestamp written into built wheels., type: str, default: "315532800"}
author: flask-deployment-kit
"""

EXAMPLES = r"""
- name: Gather the wheelhouse
  flask_app_wheelhouse:
    name: billing
    source_kind: package
    source: billing==2.0
    lock: inventories/production/locks/billing/py3.11.txt
    python_version: "3.11"
    platforms: [manylinux_2_36_x86_64, manylinux2014_x86_64]
    dest: ~/.cache/flask-kit/billing
    python: "{{ ansible_playbook_python }}"
    uv: "{{ ansible_playbook_python | dirname }}/uv"
    build_constraints: build-constraints.txt
  delegate_to: localhost
"""

RETURN = r"""
release_id: {description: VERSION-HASH of the release., type: str, returned: always}
version: {description: The app's version., type: str, returned: always}
archive: {description: Path of RELEASE.tar on the controller., type: str, returned: always}
wheels: {description: File names in the release., type: list, returned: always}
"""

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-(?P<platform>[^-]+)\.whl$")
SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2")


class WheelhouseError(Exception):
    """A problem the operator must fix; the message says how."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def normalize(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one -."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run(argv: list[str], env: dict | None = None) -> str:
    """Run a controller command; its output becomes the error message if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise WheelhouseError(f"{' '.join(argv[:4])} ... failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


# Left at the top of a project directory by earlier builds and tools; never
# part of a wheel. Deeper directories of these names (a package's static
# dist/) are the app's own and are kept.
BUILD_LEFTOVERS = ("build", "dist", ".venv", ".tox", ".nox", ".pytest_cache", ".ruff_cache", ".mypy_cache")


def copy_project(src: str, dest: Path) -> Path:
    """Copy a project directory without the build leftovers at its top."""
    return Path(
        shutil.copytree(
            src,
            dest,
            ignore=lambda folder, names: [n for n in names if Path(folder) == Path(src) and n in BUILD_LEFTOVERS],
        )
    )


def build_wheel(uv: str, src: str, out: Path, constraints: str, epoch: str) -> Path:
    """Build one wheel with pinned build backends; return its path.

    A project directory is copied first (without build leftovers): the
    build writes nothing into the operator's tree, and a stale build/ there
    cannot slip old modules into the wheel.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        env = dict(os.environ, SOURCE_DATE_EPOCH=epoch)
        if Path(src).is_dir():
            src = copy_project(src, Path(tmp) / "src")
        run([uv, "build", "--quiet", "--wheel", "--build-constraints", constraints, "--out-dir", tmp, str(src)], env)
        built = sorted(Path(tmp).glob("*.whl"))
        if len(built) != 1:
            raise WheelhouseError(f"building {src} gave {len(built)} wheels, expected one")
        out.mkdir(parents=True, exist_ok=True)
        target = out / built[0].name
        shutil.move(str(built[0]), target)
        return target


def download(params: dict, workdir: Path) -> bool:
    """Fetch the lock's files for the target; True when anything new was saved."""
    downloads = workdir / "download"
    downloads.mkdir(parents=True, exist_ok=True)
    argv = [
        params["python"], "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--require-hashes", "--implementation=cp", f"--python-version={params['python_version']}",
        f"--requirement={params['lock']}", f"--dest={downloads}",
    ]  # fmt: skip
    argv += [f"--platform={tag}" for tag in params["platforms"]]
    if params["wheelhouse"]:
        argv.append(f"--find-links={params['wheelhouse']}")
    return "Saved " in run(argv)


def built_from_sdists(params: dict, workdir: Path) -> list[Path]:
    """Wheels built from the source distributions in the download, pure Python only."""
    wheels = []
    for sdist in sorted((workdir / "download").iterdir()):
        if not sdist.name.endswith(SDIST_SUFFIXES):
            continue
        out = workdir / "built" / sdist.name
        existing = sorted(out.glob("*.whl")) if out.is_dir() else []
        wheel = existing[0] if existing else None
        if wheel is None:
            wheel = build_wheel(params["uv"], str(sdist), out, params["build_constraints"], params["source_date_epoch"])
        match = WHEEL_NAME.match(wheel.name)
        if not match or not wheel.name.endswith("-none-any.whl"):
            shutil.rmtree(out, ignore_errors=True)
            raise WheelhouseError(
                f"app {params['name']!r}: {sdist.name} is a source distribution with compiled code (it builds "
                f"{wheel.name}, not a py3-none-any wheel), so the controller cannot build it for the hosts; way out: "
                "build its wheel for the hosts' Python and platform yourself, put it in a directory, name that "
                "directory as the app's 'wheelhouse' and re-run playbooks/lock.yml so the lock holds its hash"
            )
        wheels.append(wheel)
    return wheels


def app_wheel(params: dict, dest: Path) -> Path | None:
    """Find the app's own wheel: built from a project directory, or the given file; none for a package."""
    if params["source_kind"] == "package":
        return None
    if params["source_kind"] == "wheel":
        wheel = Path(params["source"])
        if not wheel.is_file():
            raise WheelhouseError(f"app {params['name']!r}: source.wheel {wheel} is not a file on the controller")
        return wheel
    return build_wheel(
        params["uv"], params["source"], dest / "app-wheel", params["build_constraints"], params["source_date_epoch"]
    )


def pack(archive: Path, wheels: list[Path], requirements: str) -> None:
    """Write RELEASE.tar: wheels/ and requirements.txt, with fixed owners and times."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    with tarfile.open(partial, "w") as tar:
        for wheel in wheels:
            info = tar.gettarinfo(str(wheel), arcname=f"wheels/{wheel.name}")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 315532800
            info.mode = 0o644
            with wheel.open("rb") as handle:
                tar.addfile(info, handle)
        data = requirements.encode()
        info = tarfile.TarInfo("requirements.txt")
        info.size, info.mode, info.mtime = len(data), 0o644, 315532800
        tar.addfile(info, io.BytesIO(data))
    partial.rename(archive)


def wheelhouse(params: dict) -> dict:
    """Gather, build and pack; return the release id and whether anything new was made."""
    dest = Path(params["dest"]).expanduser()
    lock = Path(params["lock"])
    if not lock.is_file():
        raise WheelhouseError(f"app {params['name']!r}: lock {lock} not found; run playbooks/lock.yml")
    target = f"py{params['python_version']}-{params['platforms'][0]}"
    workdir = dest / f"{target}-{sha256(lock)[:12]}"
    changed = download(params, workdir)
    wheels = [w for w in sorted((workdir / "download").glob("*.whl"))]
    wheels += built_from_sdists(params, workdir)
    own = app_wheel(params, dest)
    if own is not None:
        wheels = [w for w in wheels if normalize(WHEEL_NAME.match(w.name)["name"]) != normalize(own.name.split("-")[0])]
        wheels.append(own)

    lines, version = [], None
    app_dist = normalize(
        own.name.split("-")[0] if own else re.split(r"[\s\[=<>!~;@]", params["source"].strip(), maxsplit=1)[0]
    )
    for wheel in sorted(wheels, key=lambda w: w.name):
        match = WHEEL_NAME.match(wheel.name)
        lines.append(f"{match['name']}=={match['version']} --hash=sha256:{sha256(wheel)}")
        if normalize(match["name"]) == app_dist:
            version = match["version"]
    if version is None:
        raise WheelhouseError(f"app {params['name']!r}: no wheel of {app_dist} among the release's files")
    requirements = "\n".join(lines) + "\n"
    release_id = f"{version}-{hashlib.sha256(requirements.encode()).hexdigest()[:12]}"
    archive = dest / "releases" / f"{release_id}-{target}.tar"
    if not archive.is_file():
        pack(archive, wheels, requirements)
        changed = True
    return {
        "changed": changed,
        "release_id": release_id,
        "version": version,
        "archive": str(archive),
        "wheels": [w.name for w in wheels],
    }


def main() -> None:
    """Ansible entry point."""
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "source_kind": {"type": "str", "required": True, "choices": ["path", "wheel", "package"]},
            "source": {"type": "str", "required": True},
            "lock": {"type": "path", "required": True},
            "python_version": {"type": "str", "required": True},
            "platforms": {"type": "list", "elements": "str", "required": True},
            "wheelhouse": {"type": "str", "default": ""},
            "dest": {"type": "path", "required": True},
            "python": {"type": "path", "required": True},
            "uv": {"type": "path", "required": True},
            "build_constraints": {"type": "path", "required": True},
            "source_date_epoch": {"type": "str", "default": "315532800"},
        },
        supports_check_mode=True,
    )
    try:
        module.exit_json(**wheelhouse(module.params))
    except WheelhouseError as error:
        module.fail_json(msg=str(error))


if __name__ == "__main__":
    main()
