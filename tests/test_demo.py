"""The main job's demonstration runs end to end and bills what the meters consumed."""

from __future__ import annotations

from meterchain.demo import run_demo


def test_demo_bills_readings_from_simulated_dsmr_meters() -> None:
    lines: list[str] = []
    summary = run_demo(households=8, days=33, say=lines.append)
    assert summary.readings == 8 * 33
    assert summary.meter_signed > 0
    # Six postpaid households get a January invoice; prepaid ones are charged per reading.
    assert summary.invoices == 6 and summary.invoiced_total > 0
    assert summary.payments == 5  # one household does not pay
    assert summary.events["credit_deducted"] > 0
    assert summary.events["disconnect_order"] >= 1  # the prepaid household that never tops up
    # One credit note, and the household that does not pay gets a payment plan.
    assert summary.events["credit_note"] == 1 and summary.events["payment_plan_opened"] == 1
    # The two deliberately bad transactions failed, with reasons, and nothing else did.
    assert summary.failed == 2
    assert any("index >= " in r for r in summary.rejections)
    assert any("active subscriber" in r for r in summary.rejections)
    assert summary.height == summary.blocks  # every block went through apply_block
