"""Each role's README lists its variables as its argument spec states them.

The spec (meta/argument_specs.yml) is the one source: it stops bad values
and `ansible-doc -t role` prints it. The README's table between the markers
below is rendered from it; `make docs` rewrites the tables and
tests/test_role_docs.py fails when one is out of step.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROLES = Path(__file__).parents[1] / "roles"
BEGIN, END = "<!-- variables: rendered from meta/argument_specs.yml by `make docs` -->", "<!-- /variables -->"


def describe(option: dict) -> str:
    """One line of description, with the choices when there are any."""
    text = option.get("description", "")
    text = " ".join(text) if isinstance(text, list) else text
    if option.get("choices"):
        text += " One of: " + ", ".join(f"`{c}`" for c in option["choices"]) + "."
    return text.replace("|", "\\|").replace("\n", " ")


def default(option: dict) -> str:
    """The default as YAML would write it, or a note that it is derived or required."""
    if option.get("required"):
        return "required"
    if "default" not in option:
        return "(derived, see defaults/main.yml)" if option.get("type") != "int" else "null (automatic)"
    return f"`{json.dumps(option['default'])}`".replace("|", "\\|")


def table(role: Path) -> str:
    """The Markdown table of a role's variables."""
    options = yaml.safe_load((role / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    rows = ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
    for name, option in options.items():
        rows.append(f"| `{name}` | {option.get('type', '')} | {default(option)} | {describe(option)} |")
        for sub, suboption in (option.get("options") or {}).items():
            rows.append(
                f"| `{name}[].{sub}` | {suboption.get('type', '')} | {default(suboption)} | {describe(suboption)} |"
            )
    return "\n".join(rows)


def render(readme: str, role: Path) -> str:
    """The README with its variables table replaced by the spec's."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(readme):
        raise ValueError(f"{role.name}/README.md has no {BEGIN} ... {END} section")
    return pattern.sub(lambda _: f"{BEGIN}\n{table(role)}\n{END}", readme)


def main() -> int:
    """Rewrite every role README's variables table."""
    for role in sorted(p for p in ROLES.iterdir() if (p / "meta/argument_specs.yml").is_file()):
        path = role / "README.md"
        path.write_text(render(path.read_text(), role))
    return 0


if __name__ == "__main__":
    sys.exit(main())
