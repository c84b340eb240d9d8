"""A fault the meter reports about itself, read from its real M-Bus frame by the adapters
(meter_adapters.alarms), recorded on chain by its collector (billing.record_meter_fault with
source meter_alarm, the payload of wallet.reading_transactions.meter_alarm_payload); a
consumer may not record one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meter_adapters.alarms import telegram_alarms
from meter_adapters.mbus import decode_frame
from tests.contracts.conftest import GENESIS_TIME
from wallet.reading_transactions import meter_alarm_payload

RVD235 = Path(__file__).resolve().parents[1] / "fixtures" / "mbus" / "libmbus" / "siemens_rvd235.hex"


def test_the_collector_records_the_meters_own_permanent_error_on_chain(world: Any) -> None:
    data = bytes.fromhex(RVD235.read_text().replace("\n", " "))
    [alarm] = telegram_alarms(decode_frame(data), data, "mbus", meter="MTR-A")
    at = GENESIS_TIME + 86_400
    contract, function, args = meter_alarm_payload(alarm.meter, alarm.fault_type, alarm.observed_at or at - 60, alarm.detail)
    fault = world.chain.return_value(world.ok(world.collector, contract, function, args, at=at))
    assert (fault["type"], fault["source"], fault["ended_at"]) == ("meter_broken", "meter_alarm", 0)
    [record] = world.view("billing", "meter_faults", ["MTR-A", "", 10])
    assert record["note"] == "M-Bus status 0x28: permanent error (manufacturer bits 0x20)"


def test_invalid_a_consumer_cannot_record_the_meters_alarm(world: Any) -> None:
    contract, function, args = meter_alarm_payload("MTR-A", "meter_broken", GENESIS_TIME, "M-Bus status 0x08: permanent error")
    err = world.fail(world.alice, contract, function, args, at=GENESIS_TIME + 86_400)
    assert "caller with role collector or operator or admin of utility ELEC expected" in err
    assert world.view("billing", "meter_faults", ["MTR-A", "", 10]) == []
