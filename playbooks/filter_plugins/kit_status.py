"""Filters of the operator playbooks (status.yml, logs.yml).

They read systemd's unit properties, lay rows out as a table and prefix
lines by host, as plain functions with unit tests (tests/test_kit_status.py).
"""

from __future__ import annotations


def systemd_units(text: str) -> dict[str, dict[str, str]]:
    """Parse ``systemctl show -p Id,... UNIT...`` output into {unit: {property: value}}.

    systemctl separates units by a blank line; each block names its unit
    in ``Id``. A unit systemd does not know still gets a block (inactive).
    """
    units: dict[str, dict[str, str]] = {}
    for block in text.strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if "Id" in props:
            units[props["Id"]] = props
    return units


def text_table(rows: list[dict], columns: list[str]) -> str:
    """Rows (dicts) as a plain-text table: a header line, then one line a row.

    Each column is as wide as its widest cell; a missing cell is '-'.
    """
    cells = [[str(row.get(column, "")) or "-" for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = [columns, *cells]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def host_lines(texts: dict[str, str | list[str]]) -> str:
    """Each host's text (or list of lines), every line prefixed by its host, hosts in the order given."""
    return "\n".join(
        f"{host} | {line}"
        for host, text in texts.items()
        for line in (text.splitlines() if isinstance(text, str) else text)
    )


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict:
        """Map filter names to functions."""
        return {"host_lines": host_lines, "systemd_units": systemd_units, "text_table": text_table}
