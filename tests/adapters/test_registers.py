"""Which reading of a capture is the billed register (meter_adapters.registers)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from meter_adapters.dsmr import parse_dsmr
from meter_adapters.registers import RegisterNotFound, register_reading
from meter_adapters.simulator import MeterState, dsmr_telegram


def test_a_dsmr_import_total_is_the_sum_of_its_two_tariff_registers() -> None:
    readings = parse_dsmr(dsmr_telegram(MeterState()))
    by_register = {r.register: r for r in readings}

    total = register_reading(readings, "1-0:1.8.0")

    assert total.value == by_register["1-0:1.8.1"].value + by_register["1-0:1.8.2"].value
    assert (total.obis, total.unit, total.meter) == ("1-0:1.8.0", "Wh", by_register["1-0:1.8.1"].meter)
    assert total.timestamp == by_register["1-0:1.8.1"].timestamp and total.raw_hash == by_register["1-0:1.8.1"].raw_hash


def test_a_register_the_capture_holds_is_returned_as_it_is() -> None:
    readings = parse_dsmr(dsmr_telegram(MeterState()))
    tariff_2 = next(r for r in readings if r.register == "1-0:1.8.2")

    assert register_reading(readings, "1-0:1.8.2") is tariff_2


def test_a_total_the_meter_reports_itself_wins_over_the_sum() -> None:
    readings = parse_dsmr(dsmr_telegram(MeterState()))
    own_total = replace(readings[0], obis="1-0:1.8.0", value=42)

    assert register_reading([*readings, own_total], "1-0:1.8.0") is own_total


def test_invalid_a_register_missing_from_the_capture_is_named_with_what_was_found() -> None:
    readings = [r for r in parse_dsmr(dsmr_telegram(MeterState())) if r.register != "1-0:1.8.2"]

    with pytest.raises(RegisterNotFound, match=r"register 1-0:1\.8\.0 \(or its tariff registers\) expected .* found .*1-0:1\.8\.1"):
        register_reading(readings, "1-0:1.8.0")


def test_invalid_tariff_registers_of_different_units_are_not_added() -> None:
    readings = parse_dsmr(dsmr_telegram(MeterState()))
    mixed = [replace(r, unit="kWh") if r.register == "1-0:1.8.2" else r for r in readings]

    with pytest.raises(RegisterNotFound):
        register_reading(mixed, "1-0:1.8.0")


def test_invalid_an_empty_capture_says_it_held_no_register() -> None:
    with pytest.raises(RegisterNotFound, match="found no register"):
        register_reading([], "volume")
