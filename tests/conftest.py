"""Make the roles' Python plugins importable by the controller-side tests."""

import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
for plugins in (
    "roles/gunicorn/filter_plugins",
    "roles/flask_app/filter_plugins",
    "roles/preflight/filter_plugins",
    "roles/firewall/filter_plugins",
    "playbooks/filter_plugins",
):
    sys.path.insert(0, str(ROOT / plugins))
sys.path.insert(0, str(ROOT / "roles/flask_app/library"))
sys.path.insert(0, str(ROOT / "tests"))
