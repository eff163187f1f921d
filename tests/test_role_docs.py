"""Each role's README lists exactly the variables its argument spec has (tests/role_docs.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from role_docs import ROLES, render

SPECCED = sorted(p for p in ROLES.iterdir() if (p / "meta/argument_specs.yml").is_file())


@pytest.mark.parametrize("role", SPECCED, ids=lambda r: r.name)
def test_readme_variables_match_the_argument_spec(role: Path) -> None:
    readme = (role / "README.md").read_text()
    assert render(readme, role) == readme, "out of step with meta/argument_specs.yml: run `make docs`"


@pytest.mark.parametrize("role", SPECCED, ids=lambda r: r.name)
def test_readme_ends_with_an_example_playbook(role: Path) -> None:
    assert "## Example Playbook" in (role / "README.md").read_text()
