"""The benchmark report's Markdown, from the newest recorded run (benchmarks/results/<date>/report.json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "benchmarks"))
from report import SECTIONS, markdown  # noqa: E402

RUNS = sorted(PROJECT.glob("benchmarks/results/*/report.json"))


def newest_full_report() -> dict:
    reports = [json.loads(run.read_text()) for run in RUNS]
    return next(report for report in reversed(reports) if all(key in report for key in SECTIONS))


def test_every_section_has_a_row_per_point_its_plot_and_its_conclusion() -> None:
    report = newest_full_report()
    figures = {key: report[key] for key in SECTIONS}
    text = markdown(figures, report["machine"], report["plots"], report["date"])
    for key, (title, _) in SECTIONS.items():
        section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
        rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| run |")]
        assert len(rows) == len(report[key]["points"]), key
        assert f"]({report['plots'][key]})" in section
        assert (PROJECT / "benchmarks/results" / report["date"] / report["plots"][key]).is_file()
        assert f"**{report[key]['conclusion']}**" in section


def test_a_figure_missing_from_the_first_point_still_gets_its_column() -> None:
    figures = {
        "deploys": {
            "points": [{"label": "baseline", "failed": 0}, {"label": "code-only", "failed": 0, "seconds": 58.6}],
            "conclusion": "c",
        }
    }
    text = markdown(figures, {"cpus": 2, "memory_gib": 1, "cpu_model": "x"}, {"deploys": "6-deploys.png"}, "today")
    assert "| run | failed | seconds |" in text
    assert "| baseline | 0 |  |" in text
    assert "| code-only | 0 | 58.60 |" in text
