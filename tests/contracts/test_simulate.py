"""``meterchain billing simulate``: what-if billing with the chain's own billing contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from meterchain.commands import billing as cmd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(cmd.app, ["simulate", *args])


def simulate_json(tariff: Path, readings: Path, *extra: str) -> dict[str, Any]:
    result = run("--tariff", str(tariff), "--readings", str(readings), "--json", *extra)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def test_simulate_prints_the_invoices_as_json() -> None:
    out = simulate_json(EXAMPLES / "tariff_water.json", EXAMPLES / "readings_water_monthly.csv")
    invoices = out["invoices"]
    # Two meters read on the 1st of each month, January to June: five monthly invoices each.
    assert len(invoices) == 10 and out["totals"]["invoices"] == 10
    assert out["totals"]["total"] == sum(i["total"] for i in invoices)
    first = next(i for i in invoices if i["meter"] == "WTR-01")
    # January: 31 days x 50 = 1,550 standing; 9,460 l within 31 x 330 l at 9.00 TRY/m3
    # (0.9 kuruş/l) = 8,514; taxable 10,064; 1 % tax = 100.64 -> 101.
    assert [ln["amount"] for ln in first["lines"]] == [1_550, 8_514]
    assert (first["subtotal"], first["tax"], first["total"]) == (10_064, 101, 10_165)
    assert out["chain"]["readings"] == 12


def test_a_proposed_price_change_bills_differently_only_after_it(tmp_path: Path) -> None:
    readings = EXAMPLES / "readings_2025_weekly.csv"
    now = simulate_json(EXAMPLES / "tariff_residential_2025.json", readings)
    proposed = simulate_json(EXAMPLES / "tariff_residential_2025_proposed.json", readings)
    july = 1_751_328_000  # 2025-07-01T00:00Z
    before = [(i["id"], i["total"]) for i in now["invoices"] if i["period_end"] <= july]
    assert before == [(i["id"], i["total"]) for i in proposed["invoices"] if i["period_end"] <= july]
    after_now = {i["id"]: i["total"] for i in now["invoices"] if i["period_start"] >= july}
    after_proposed = {i["id"]: i["total"] for i in proposed["invoices"] if i["period_start"] >= july}
    assert after_now.keys() == after_proposed.keys() and after_now != after_proposed


def test_roll_over_and_rejected_readings_are_reported(tmp_path: Path) -> None:
    readings = tmp_path / "r.csv"
    readings.write_text(
        "meter,timestamp,index\n"
        "M1,2025-01-01T00:00:00Z,999000\n"
        "M1,2025-01-02T00:00:00Z,1000\n"      # roll-over of a 6-digit register: 2,000 Wh
        "M1,2025-01-03T00:00:00Z,500\n"       # backwards: rejected, listed
        "M1,2025-01-04T00:00:00Z,4000\n"
    )
    tariff = tmp_path / "t.json"
    tariff.write_text(json.dumps({"versions": [{"effective_from": "2025-01-01", "standing_charge_per_day": 0,
                                                "tiers": [[None, 1_000_000]], "tax_bp": 0}],
                                  "meters": {"M1": {"digits": 6, "max_rate": 20_000}}}))
    out = simulate_json(tariff, readings)
    [rejected] = out["rejected_readings"]
    assert rejected["meter"] == "M1" and "index >= 1000 expected" in rejected["reason"]
    [inv] = out["invoices"]
    assert inv["consumption"] == 5_000 and inv["total"] == 5_000


def test_invalid_readings_header(tmp_path: Path) -> None:
    readings = tmp_path / "r.csv"
    readings.write_text("serial,time,value\nM1,2025-01-01,1\n")
    result = run("--tariff", str(EXAMPLES / "tariff_flat.json"), "--readings", str(readings), "--json")
    assert result.exit_code != 0
    assert "header 'meter,timestamp,index' expected" in result.output


def test_invalid_reading_timestamp(tmp_path: Path) -> None:
    readings = tmp_path / "r.csv"
    readings.write_text("meter,timestamp,index\nM1,yesterday,1\n")
    result = run("--tariff", str(EXAMPLES / "tariff_flat.json"), "--readings", str(readings))
    assert result.exit_code != 0
    assert "line 2" in result.output and "ISO 8601" in result.output


def test_invalid_tariff_is_refused_by_the_contract(tmp_path: Path) -> None:
    tariff = tmp_path / "t.json"
    tariff.write_text(json.dumps({"versions": [{"effective_from": "2025-01-01", "standing_charge_per_day": 0,
                                                "tiers": [[1000, 5]], "tax_bp": 0}]}))
    result = run("--tariff", str(tariff), "--readings", str(EXAMPLES / "readings_water_monthly.csv"))
    assert result.exit_code != 0
    assert "the last tier unbounded" in result.output


def test_invalid_tariff_file_that_is_not_json(tmp_path: Path) -> None:
    tariff = tmp_path / "t.json"
    tariff.write_text("{not json")
    result = run("--tariff", str(tariff), "--readings", str(EXAMPLES / "readings_water_monthly.csv"))
    assert result.exit_code != 0
    assert "valid JSON expected" in result.output


def test_invalid_period() -> None:
    result = run("--tariff", str(EXAMPLES / "tariff_flat.json"),
                 "--readings", str(EXAMPLES / "readings_water_monthly.csv"), "--period", "fortnightly")
    assert result.exit_code != 0
    assert "period one of" in result.output


@pytest.mark.parametrize(
    ("period", "count"),
    [("monthly", 12), ("quarterly", 4), ("yearly", 1), ("weekly", 52), ("none", 0)],
)
def test_period_boundaries_of_a_year(period: str, count: int) -> None:
    start, end = 1_735_689_600, 1_767_225_600  # 2025-01-01 .. 2026-01-01
    ends = cmd.period_boundaries(period, start, end)
    assert len(ends) == count
    assert all(start < t <= end for t in ends)


def test_a_corrected_year(tmp_path: Path) -> None:
    """Corrections in the input: alice's January read 1,000 Wh high is rebilled (the 1,000 Wh
    move into February), a credit note, a manual charge and a reading exception."""
    readings = EXAMPLES / "readings_2025_weekly.csv"
    tariff = EXAMPLES / "tariff_residential_2025.json"
    corrections = tmp_path / "c.csv"
    corrections.write_text(
        "meter,timestamp,action,value,reason\n"
        "MTR-0001,2025-02-03T12:00:00Z,rebill,211780,index misread on 29 January\n"
        "MTR-0002,2025-03-03T12:00:00Z,credit_note,500,outage compensation\n"
        "MTR-0002,2025-04-02T12:00:00Z,manual_charge,2000,broken seal\n"
        "MTR-0003,2025-04-03T12:00:00Z,exception,dangerous_dog,gate shut\n"
    )
    base = simulate_json(tariff, readings)
    out = simulate_json(tariff, readings, "--corrections", str(corrections))
    assert [c["event"] for c in out["corrections"]] == ["rebill", "credit_note", "manual_charge", "reading_exception"]
    before = {i["id"]: i for i in base["invoices"]}
    after = {i["id"]: i for i in out["invoices"]}
    january, february = "MTR-0001/000001", "MTR-0001/000002"
    # The replacement takes the meter's next number: February's invoice is numbered after it.
    corrected_february = next(i for i in out["invoices"] if i["meter"] == "MTR-0001" and "replaces" not in i
                              and i["period_start"] == before[january]["period_end"])
    assert after[january]["status"] == "void" and after[january]["consumption"] == before[january]["consumption"]
    replacement = after[after[january]["replaced_by"]]
    assert replacement["replaces"] == january
    assert replacement["consumption"] == before[january]["consumption"] - 1_000
    assert corrected_february["consumption"] == before[february]["consumption"] + 1_000
    credit = out["corrections"][1]
    assert credit["amount"] == 500 and after[credit["invoice"]]["total"] == before[credit["invoice"]]["total"] - 500
    charge = after[out["corrections"][2]["invoice"]]
    assert [ln["kind"] for ln in charge["lines"]] == ["manual_charge"] and charge["total"] == 2_000
    assert (out["totals"]["void"], out["totals"]["invoices"]) == (1, base["totals"]["invoices"] + 1)
    assert out["totals"]["total"] == sum(i["total"] for i in out["invoices"] if i["status"] != "void")


def test_invalid_correction_at_a_reading_time_or_of_no_invoice(tmp_path: Path) -> None:
    readings = EXAMPLES / "readings_2025_weekly.csv"
    tariff = EXAMPLES / "tariff_residential_2025.json"
    corrections = tmp_path / "c.csv"
    corrections.write_text("meter,timestamp,action,value,reason\nMTR-0001,2025-01-08T00:00:00Z,credit_note,5,x\n")
    result = run("--tariff", str(tariff), "--readings", str(readings), "--corrections", str(corrections))
    assert result.exit_code == 2
    assert "corrections line 2: a time without readings or a period end expected, found 2025-01-08T00:00:00Z" in (
        result.output)
    corrections.write_text("meter,timestamp,action,value,reason\nMTR-0001,2025-01-09T00:00:00Z,credit_note,5,x\n")
    result = run("--tariff", str(tariff), "--readings", str(readings), "--corrections", str(corrections))
    assert "corrections line 2: an invoice of meter MTR-0001 before" in result.output
    corrections.write_text("meter,timestamp,action,value,reason\nMTR-0001,2025-01-09T00:00:00Z,refund,5,x\n")
    result = run("--tariff", str(tariff), "--readings", str(readings), "--corrections", str(corrections))
    assert ("an action among exception, credit_note, rebill, rebill_reading, confirm_reading, manual_charge, "
            "manual_credit expected") in result.output


def test_a_year_with_interior_readings_corrected(tmp_path: Path) -> None:
    """An interior reading of MTR-0001's July invoice (2 July, the day after the price change)
    read 10,000 Wh high is rebilled from the invoice's readings: the units move out of the span
    that straddles 1 July (6 of its 7 days at the old price) into the next week's, all at the
    new price; a reading of the open August period is corrected before it is billed; a July
    reading is confirmed."""
    readings = EXAMPLES / "readings_2025_weekly.csv"
    tariff = EXAMPLES / "tariff_residential_2025.json"
    corrections = tmp_path / "c.csv"
    corrections.write_text(
        "meter,timestamp,action,value,reason\n"
        "MTR-0001,2025-08-03T12:00:00Z,rebill_reading,1471789@2025-07-02T00:00:00Z,misread on 2 July\n"
        "MTR-0001,2025-08-03T12:00:00Z,confirm_reading,2025-07-16T00:00:00Z,checked on site\n"
        "MTR-0001,2025-08-14T12:00:00Z,rebill_reading,1850000@2025-08-13T00:00:00Z,misread on 13 August\n"
    )
    base = simulate_json(tariff, readings)
    out = simulate_json(tariff, readings, "--corrections", str(corrections))
    assert [c["event"] for c in out["corrections"]] == ["rebill", "reading_confirmed", "reading_correction"]
    rebill, confirmed, open_fix = out["corrections"]
    july_2, july_16, august_13 = 1_751_414_400, 1_752_624_000, 1_755_043_200
    assert rebill["readings"] == [[july_2, 1_471_789, 1_481_789]]
    assert (confirmed["timestamp"], confirmed["index"], confirmed["invoice"]) == (july_16, 1_614_068, rebill["replacement"])
    assert open_fix["readings"] == [[august_13, 1_850_000, 1_854_657]]
    before = {i["id"]: i for i in base["invoices"]}
    after = {i["id"]: i for i in out["invoices"]}
    july, replacement = before[rebill["invoice"]], after[rebill["replacement"]]
    old_price = 1_735_689_600  # the version of 1 January

    def old_price_units(inv: dict[str, Any]) -> int:
        return sum(ln["units"] for ln in inv["lines"] if ln["kind"] == "energy" and ln["effective_from"] == old_price)

    # 25 June -> 2 July: 43,736 Wh read, 33,736 corrected; 6 of 7 days at the old price (floor).
    assert (old_price_units(july), old_price_units(replacement)) == (43_736 * 6 // 7, 33_736 * 6 // 7)
    assert replacement["consumption"] == july["consumption"]
    assert replacement["total"] > july["total"]  # the units moved to the dearer price
    # The August invoice bills the corrected reading: its consumption is unchanged (interior).
    august = [i for i in out["invoices"] if i["meter"] == "MTR-0001" and i["period_end"] == 1_756_252_800]
    assert [i["consumption"] for i in august] == [
        i["consumption"] for i in base["invoices"] if i["meter"] == "MTR-0001" and i["period_end"] == 1_756_252_800]


def test_invalid_interior_correction_of_a_reading_the_meter_does_not_have(tmp_path: Path) -> None:
    readings = EXAMPLES / "readings_2025_weekly.csv"
    tariff = EXAMPLES / "tariff_residential_2025.json"
    corrections = tmp_path / "c.csv"
    corrections.write_text("meter,timestamp,action,value,reason\n"
                           "MTR-0001,2025-08-03T12:00:00Z,rebill_reading,1471789@2025-07-03T00:00:00Z,x\n")
    result = run("--tariff", str(tariff), "--readings", str(readings), "--corrections", str(corrections))
    assert result.exit_code == 2
    assert "corrections line 2: a reading of meter MTR-0001 at 2025-07-03T00:00:00Z expected, found none" in result.output
    corrections.write_text("meter,timestamp,action,value,reason\n"
                           "MTR-0001,2025-08-03T12:00:00Z,rebill_reading,1471789,x\n")
    result = run("--tariff", str(tariff), "--readings", str(readings), "--corrections", str(corrections))
    assert "corrections line 2: INDEX@READING-TIME for rebill_reading expected, found '1471789'" in result.output
