"""The controller's wheelhouse: source-only dependencies become wheels, unless they hold compiled code.

Real builds with the controller's pip and uv, on packages made here: a pure
Python one and one with a C extension, each published only as a source
distribution in a local directory (the app's ``wheelhouse``).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from flask_app_wheelhouse import WheelhouseError, wheelhouse

UV = str(Path(sys.executable).parent / "uv")
CONSTRAINTS = str(Path(__file__).parents[1] / "roles/flask_app/files/build-constraints.txt")
PYPROJECT = """[build-system]
requires = ["setuptools>=75"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
"""


def sdist(tmp_path: Path, name: str, compiled: bool) -> Path:
    """Build a source distribution of a one-module package into tmp_path/sdists."""
    project = tmp_path / name
    (project / name).mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (project / name / "__init__.py").write_text("VALUE = 1\n")
    if compiled:
        (project / name / "fast.c").write_text(
            '#include <Python.h>\nstatic struct PyModuleDef m = {PyModuleDef_HEAD_INIT, "fast"};\n'
            "PyMODINIT_FUNC PyInit_fast(void) { return PyModule_Create(&m); }\n"
        )
        (project / "setup.py").write_text(
            "from setuptools import Extension, setup\n"
            f"setup(ext_modules=[Extension('{name}.fast', ['{name}/fast.c'])])\n"
        )
    out = tmp_path / "sdists"
    subprocess.run([UV, "build", "--quiet", "--sdist", "--out-dir", str(out), str(project)], check=True)
    return next(out.glob(f"{name}-0.1.0.tar.gz"))


def params(tmp_path: Path, archive: Path, name: str) -> dict:
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    lock = tmp_path / "lock.txt"
    lock.write_text(f"{name}==0.1.0 --hash=sha256:{digest}\n")
    return {
        "name": "probe",
        "source_kind": "package",
        "source": f"{name}==0.1.0",
        "lock": str(lock),
        "python_version": f"{sys.version_info.major}.{sys.version_info.minor}",
        "platforms": ["manylinux_2_36_x86_64", "manylinux2014_x86_64"],
        "wheelhouse": str(archive.parent),
        "dest": str(tmp_path / "build"),
        "python": sys.executable,
        "uv": UV,
        "build_constraints": CONSTRAINTS,
        "source_date_epoch": "315532800",
    }


def test_a_pure_python_sdist_becomes_a_wheel_in_the_release(tmp_path: Path) -> None:
    result = wheelhouse(params(tmp_path, sdist(tmp_path, "kit_pure_probe", compiled=False), "kit_pure_probe"))
    assert result["wheels"] == ["kit_pure_probe-0.1.0-py3-none-any.whl"]
    assert result["release_id"].startswith("0.1.0-")
    with tarfile.open(result["archive"]) as archive:
        names = archive.getnames()
        requirements = archive.extractfile("requirements.txt").read().decode()
    assert "wheels/kit_pure_probe-0.1.0-py3-none-any.whl" in names
    assert requirements.startswith("kit_pure_probe==0.1.0 --hash=sha256:")
    # Built again from the same inputs: the same release, nothing new.
    again = wheelhouse(params(tmp_path, Path(tmp_path / "sdists/kit_pure_probe-0.1.0.tar.gz"), "kit_pure_probe"))
    assert (again["release_id"], again["changed"]) == (result["release_id"], False)


def test_an_sdist_with_compiled_code_is_refused_naming_the_package_and_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError) as refused:
        wheelhouse(params(tmp_path, sdist(tmp_path, "kit_compiled_probe", compiled=True), "kit_compiled_probe"))
    message = str(refused.value)
    assert "kit_compiled_probe-0.1.0.tar.gz is a source distribution with compiled code" in message
    assert "'wheelhouse'" in message
    assert "playbooks/lock.yml" in message
