"""Rules between the apps of ``flask_apps``: the ``flask_apps_errors`` filter.

Each app's own entry is checked by the flask_app role; what no single app
can know (a name used twice, two apps answering the same Host) is checked
here, once for the whole list, before any host changes.
"""

from __future__ import annotations

from typing import Any


def flask_apps_errors(apps: Any) -> list[str]:
    """Problems between apps: each name once, each server name (and '_') claimed by one app."""
    if not isinstance(apps, list) or not apps:
        return [f"flask_apps is {apps!r}; allowed: a non-empty list of apps (README, 'Your own Flask apps')"]
    errors = []
    owners: dict[str, str] = {}
    seen: set[str] = set()
    for app in apps:
        if not isinstance(app, dict):
            continue
        name = str(app.get("name"))
        if name in seen:
            errors.append(f"flask_apps: app {name!r}: key 'name' is used by more than one app; allowed: unique names")
        seen.add(name)
        for server_name in app.get("server_names", ["_"]) or []:
            other = owners.setdefault(str(server_name), name)
            if other != name:
                errors.append(
                    f"flask_apps: app {name!r}: key 'server_names' claims {server_name!r}, already app {other!r}'s;"
                    " allowed: each server name (and '_') in one app only"
                )
    return errors


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict:
        """Map filter names to functions."""
        return {"flask_apps_errors": flask_apps_errors}
