"""``meterchain billing simulate`` refuses input it cannot bill (issue 9, item 12): one line
saying what was expected and what was found, exit status 2, in bounded time and memory.
Each case here ended in a traceback, or ran without end, before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterchain.cli import app
from meterchain.commands.billing import MAX_PERIODS, SimulationError, period_boundaries
from meterchain.failure import one_line
from node.localchain import LocalChain
from tests.cli.refusal import assert_refused

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FLAT = json.loads((EXAMPLES / "tariff_flat.json").read_text())
runner = CliRunner()

TWO_READINGS = "meter,timestamp,index\nM1,2025-01-01T00:00:00Z,1\nM1,2025-02-01T00:00:00Z,500\n"


def simulate(tmp_path: Path, tariff: Any = FLAT, readings: str | bytes = TWO_READINGS, *extra: str) -> Any:
    tariff_file, readings_file = tmp_path / "tariff.json", tmp_path / "readings.csv"
    if isinstance(tariff, bytes):
        tariff_file.write_bytes(tariff)
    else:
        tariff_file.write_text(json.dumps(tariff))
    if isinstance(readings, bytes):
        readings_file.write_bytes(readings)
    else:
        readings_file.write_text(readings)
    return runner.invoke(
        app, ["billing", "simulate", "--tariff", str(tariff_file), "--readings", str(readings_file), *extra]
    )


def with_version(**changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(FLAT))
    doc["versions"][0].update(changes)
    return doc


def test_basic_two_readings_are_billed(tmp_path: Path) -> None:
    # The twin of the refusals below: the same files, well formed, bill one month.
    result = simulate(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("1 invoices, 499 units")


@pytest.mark.parametrize(
    "stamp",
    ["10000-01-01T00:00:00Z", "300000000000", "1" * 400, "1969-12-31T00:00:00Z", "0"],
)
def test_invalid_reading_time_outside_the_calendar(tmp_path: Path, stamp: str) -> None:
    result = simulate(tmp_path, readings=f"meter,timestamp,index\nM1,2025-01-01T00:00:00Z,1\nM1,{stamp},5\n")
    line = assert_refused(result, "readings line 3 timestamp", "expected, found")
    assert len(line) < 300


def test_invalid_tariff_effective_from_past_9999(tmp_path: Path) -> None:
    result = simulate(tmp_path, with_version(effective_from=10**30))
    assert_refused(result, "effective_from: a time from 1970-01-02T00:00:00Z to 9999-12-31T23:59:59Z expected")


def test_a_reading_at_the_end_of_the_calendar_is_billed(tmp_path: Path) -> None:
    # The last period boundary would fall in the year 10000: the calendar ends first.
    readings = "meter,timestamp,index\nM1,9999-12-01T00:00:00Z,1\nM1,9999-12-31T23:59:58Z,5\n"
    result = simulate(tmp_path, readings=readings)
    assert result.exit_code == 0, result.output


def test_invalid_readings_file_not_utf8(tmp_path: Path) -> None:
    result = simulate(tmp_path, readings=b"meter,timestamp,index\nM\xff1,2025-01-01T00:00:00Z,1\n")
    assert_refused(result, "readings file", "UTF-8 text expected, found byte 0xff at offset 23")


def test_invalid_tariff_file_not_utf8(tmp_path: Path) -> None:
    result = simulate(tmp_path, tariff=b'{"utility": {"name": "\xfe"}}')
    assert_refused(result, "tariff file", "UTF-8 text expected, found byte 0xfe at offset 22")


@pytest.mark.parametrize("utility", [5, [1], "ELEC"])
def test_invalid_utility_not_an_object(tmp_path: Path, utility: Any) -> None:
    result = simulate(tmp_path, {**FLAT, "utility": utility})
    assert_refused(result, "utility: an object with keys among", f"found {utility!r}")


def test_invalid_utility_id_a_number(tmp_path: Path) -> None:
    result = simulate(tmp_path, {**FLAT, "utility": {**FLAT["utility"], "id": 5}})
    assert_refused(result, "utility.id: a text value expected, found 5")


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"tiers": [[None, 2.5]]}, "tariff FLAT version 0.tiers[0][1]"),
        ({"standing_charge_per_day": 1.2}, "tariff FLAT version 0.standing_charge_per_day"),
        ({"tax_bp": 2000.0}, "tariff FLAT version 0.tax_bp"),
    ],
)
def test_invalid_tariff_price_a_float(tmp_path: Path, changes: dict[str, Any], where: str) -> None:
    result = simulate(tmp_path, with_version(**changes))
    assert_refused(result, f"{where}: an integer expected", "found ")


def test_invalid_tariff_price_beyond_64_bits(tmp_path: Path) -> None:
    result = simulate(tmp_path, with_version(tiers=[[None, 2**70]]))
    assert_refused(result, "tariff FLAT version 0.tiers[0][1]: an integer of at most 64 bits expected")


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({**FLAT, "billing": {"due_days": 14.5}}, "billing.due_days: an integer expected"),
        ({**FLAT, "meters": {"M1": {"digits": 6.0}}}, "meters.M1.digits: an integer expected"),
        ({**FLAT, "meters": {"M1": {"tariff": ["FLAT"]}}}, "meters.M1.tariff: one of ['FLAT'] expected"),
        ({**FLAT, "tariff_id": 7}, "tariff_id: a text expected, found 7"),
        ({**FLAT, "default_tariff": [1]}, "default_tariff: one of ['FLAT'] expected, found [1]"),
    ],
)
def test_invalid_settings_of_the_wrong_type(tmp_path: Path, doc: dict[str, Any], fragment: str) -> None:
    assert_refused(simulate(tmp_path, doc), fragment)


@pytest.mark.parametrize("index", ["1e3", "²", "-1", "9" * 30])
def test_invalid_reading_index(tmp_path: Path, index: str) -> None:
    result = simulate(tmp_path, readings=f"meter,timestamp,index\nM1,2025-01-01T00:00:00Z,{index}\n")
    assert_refused(result, "readings line 2: an index from 0 to 9223372036854775807 in decimal digits expected")


def test_invalid_tariff_json_nested_too_deep(tmp_path: Path) -> None:
    result = simulate(tmp_path, tariff=b"[" * 100_000)
    assert_refused(result, "tariff file", "expected")


def test_invalid_readings_8000_years_apart_daily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readings = "meter,timestamp,index\nM1,1971-01-01T00:00:00Z,1\nM1,9971-01-01T00:00:00Z,5\n"
    # Refused before the chain is built: the run this replaces grew without end.
    monkeypatch.setattr(LocalChain, "genesis", None)
    result = simulate(tmp_path, FLAT, readings, "--period", "daily")
    assert_refused(result, f"at most {MAX_PERIODS} daily periods", "1971-01-01T00:00:00Z to 9971-01-01T00:00:00Z",
                   "choose a longer --period")


def test_the_period_cap_is_the_billing_views_limit() -> None:
    # At most MAX_PERIODS boundaries are listed; one more is refused, counted, not timed.
    day = 86_400
    assert len(period_boundaries("daily", 100 * day, (100 + MAX_PERIODS) * day)) == MAX_PERIODS
    with pytest.raises(SimulationError, match="at most 999 daily periods"):
        period_boundaries("daily", 100 * day, (101 + MAX_PERIODS) * day)


def test_invalid_tariff_key_with_a_line_break_is_refused_on_one_line(tmp_path: Path) -> None:
    result = simulate(tmp_path, with_version(**{"bad\nkey": 1}))
    assert_refused(result, "tariff keys among", "found bad\\nkey")


def test_a_quoted_line_break_stays_in_the_meter_id(tmp_path: Path) -> None:
    # The CSV is read with its line ends, so a quoted field keeps its line break (the
    # registry accepts the id; before, the break vanished and "M\n1" was billed as "M1").
    readings = 'meter,timestamp,index\n"M\n1",2025-01-01T00:00:00Z,1\n"M\n1",2025-02-01T00:00:00Z,5\n'
    result = simulate(tmp_path, FLAT, readings, "--json")
    assert result.exit_code == 0, result.output
    assert [inv["meter"] for inv in json.loads(result.stdout)["invoices"]] == ["M\n1"]


def test_one_line_escapes_every_control_character() -> None:
    assert one_line("a\nb\r\x00c\u2028d") == "a\\nb\\r\\x00c\\u2028d"
    assert one_line("plain: 'quoted' text") == "plain: 'quoted' text"
