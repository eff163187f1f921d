"""Each role's argument spec mirrors its defaults, key for key.

The spec is what stops a bad value before a host changes and what
`ansible-doc -t role` prints; a default missing from it goes unchecked and
undocumented, and a spec entry with no default is a variable nobody set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = sorted(p.parent.parent for p in (Path(__file__).parents[1] / "roles").glob("*/defaults/main.yml"))


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def options(role: Path) -> dict:
    return load(role / "meta/argument_specs.yml")["argument_specs"]["main"]["options"]


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_spec_and_defaults_have_the_same_keys(role: Path) -> None:
    defaults = set(load(role / "defaults/main.yml"))
    spec = set(options(role))
    assert defaults - spec == set(), "in defaults/main.yml but not in meta/argument_specs.yml"
    assert spec - defaults == set(), "in meta/argument_specs.yml but not in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_spec_defaults_match_the_role_defaults(role: Path) -> None:
    defaults = load(role / "defaults/main.yml")
    stated = {name: opt["default"] for name, opt in options(role).items() if "default" in opt}
    assert stated == {name: defaults[name] for name in stated}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_option_has_a_type_and_a_description(role: Path) -> None:
    incomplete = [name for name, opt in options(role).items() if not opt.get("type") or not opt.get("description")]
    assert incomplete == []


def test_every_role_is_covered() -> None:
    assert {r.name for r in ROLES} >= {"flask_app", "gunicorn", "nginx", "preflight"}
