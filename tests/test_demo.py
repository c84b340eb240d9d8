"""The main job's demonstration runs end to end and bills what the meters consumed."""

from __future__ import annotations

from meter_adapters.sts.amount import decode_amount_field
from meter_adapters.sts.token import decode_verified
from meterchain.demo import DEMO_VENDING_KEY, KEYPAD_METER, KEYPAD_STS, Demo, run_demo
from utility_services.sts_vending import Vendor


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
    # One token sold to the keypad meter, reissued once after a lost receipt.
    assert summary.token_sales == 1 and summary.events["token_reissued"] == 1
    # The two deliberately bad transactions failed, with reasons, and nothing else did.
    assert summary.failed == 2
    assert any("index >= " in r for r in summary.rejections)
    assert any("active subscriber" in r for r in summary.rejections)
    assert summary.height == summary.blocks  # every block went through apply_block


def test_demo_sells_a_token_to_the_keypad_meter_and_decodes_it() -> None:
    demo = Demo(households=1, days=2, say=lambda line: None)
    summary = demo.run()
    assert summary.token_sales == 1 and summary.failed == 0
    sale = demo.chain.view("payments", "token_sale", ["TOK-0000000001"])
    assert sale["meter"] == KEYPAD_METER and sale["reissues"] == 1
    data = decode_verified(summary.token, Vendor(DEMO_VENDING_KEY).decoder_key(KEYPAD_STS))
    assert (data.tid, data.subclass) == (sale["token"]["tid"], 0)
    assert decode_amount_field(data.field) == sale["token"]["tenths"] > 0
    text = "\n".join(summary.lines())
    assert "reissued after a lost receipt: the same digits" in text
    assert "recorded, nothing drawn" in text
    assert f"token {summary.token[:4]} " in text
