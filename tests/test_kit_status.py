"""The filters of status.yml and logs.yml: systemd's properties read, rows laid out, lines by host."""

from __future__ import annotations

from kit_status import host_lines, systemd_units, text_table

SHOW = """MainPID=37
Id=sample_app@blue.service
ActiveState=active
UnitFileState=enabled
ActiveEnterTimestamp=Sat 2026-11-21 22:02:53 UTC

Id=sample_app@green.socket
ActiveState=inactive
UnitFileState=disabled
ActiveEnterTimestamp=
"""


def test_each_unit_is_read_by_its_id() -> None:
    units = systemd_units(SHOW)
    assert set(units) == {"sample_app@blue.service", "sample_app@green.socket"}
    assert units["sample_app@blue.service"]["MainPID"] == "37"
    assert units["sample_app@blue.service"]["ActiveEnterTimestamp"] == "Sat 2026-11-21 22:02:53 UTC"
    assert units["sample_app@green.socket"]["ActiveState"] == "inactive"
    assert units["sample_app@green.socket"]["ActiveEnterTimestamp"] == ""


def test_nothing_shown_is_no_unit() -> None:
    assert systemd_units("") == {}


def test_table_columns_are_as_wide_as_their_widest_cell() -> None:
    rows = [{"host": "web-1", "app": "sample_app"}, {"host": "web-10", "app": "gb", "extra": "ignored"}]
    assert text_table(rows, ["host", "app", "slot"]).splitlines() == [
        "host    app         slot",
        "web-1   sample_app  -",
        "web-10  gb          -",
    ]


def test_every_line_is_prefixed_by_its_host() -> None:
    texts = {"web-2": "b1\nb2\n", "web-1": ["a1"], "web-3": ""}
    assert host_lines(texts).splitlines() == ["web-2 | b1", "web-2 | b2", "web-1 | a1"]
