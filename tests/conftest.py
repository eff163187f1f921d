"""Make the roles' Python plugins importable by the controller-side tests."""

import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "roles/gunicorn/filter_plugins"))
