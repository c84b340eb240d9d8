"""Token-meter sales (issue 12): tara's keypad meter ``MTR-TARA`` holds her credit. A vendor's
sale converts her money to energy at the tariff in force (tax, standing charge, tiers, all on
the record) and records one token request (meter, tenths of a kWh, TID); her readings are
recorded and never drawn down; a lost token is reissued as the same token. The vending
service turns a request into the 20-digit token. Named-actor scenarios, each with its
``test_invalid_*`` twin.
"""

from __future__ import annotations

from typing import Any

from meter_adapters.sts.amount import decode_amount_field, encode_amount_units
from meter_adapters.sts.dkga02 import KeyParameters, MeterPan
from meter_adapters.sts.tid import BaseDate, issued_at
from meter_adapters.sts.token import decode_verified
from tests.contracts.conftest import GENESIS_TIME
from utility_services.sts_vending import Meter, Vendor
from utility_services.token_sales import TokenRequest, issue_from_chain

DAY = 86400
T0 = GENESIS_TIME + 3 * DAY + 10 * 3600  # Saturday 2025-01-04 10:00 UTC
# 1 minor unit a Wh up to 5 kWh a day, 2 above; 1.00 a day standing charge; 18 % tax.
TIERED = {"standing_charge_per_day": 100, "tiers": [[5_000, 1_000_000], [None, 2_000_000]], "tax_bp": 1_800}
TID_BASE = 1388534400  # 2014-01-01 00:00 UTC
VENDING_KEY = bytes.fromhex("0123456789abcdef")
TARA_METER = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)


def setup_tara(world: Any) -> Any:
    tara = world.new_consumer("tara", "token")
    world.ok(world.admin, "billing", "set_tariff", [world.utility, "TIERED", TIERED, world.chain.time + 1])
    world.ok(world.operator, "billing", "assign_tariff", [world.meters["tara"], "TIERED"])
    world.ok(world.admin, "payments", "register_vendor_float", [world.utility, world.vendor.public_key, 1_000_000])
    return tara


def sell(world: Any, amount: int, reference: str, at: int) -> dict[str, Any]:
    r = world.ok(world.vendor, "payments", "sell_token", [world.meters["tara"], amount, reference], at=at)
    (event,) = world.chain.events(r, "token_sale")
    return dict(world.view("payments", "token_sale", [event["id"]]))


def expected_units(budget: int, room: int) -> int:
    # Independent of the contract: tier 0 at 1 a Wh up to its room, the rest at 2 a Wh.
    first = min(budget, room)
    return first + (budget - first) // 2


def test_basic_tara_buys_energy_at_the_tariff_in_force_and_gets_one_token_request(world: Any) -> None:
    setup_tara(world)
    opened = world.view("registry", "subscription", [world.meters["tara"]])["opened_at"]
    sale = sell(world, 11_800, "T-1", at=T0)
    elapsed = T0 - opened
    standing = 100 * elapsed // DAY  # rounded down: the rest waits for the next sale
    room = 5_000 * 31  # a new subscription starts with a month of the first tier
    assert (sale["tax"], sale["standing"], sale["standing_seconds"]) == (1_800, standing, elapsed)
    units = expected_units(10_000 - standing, room) // 100 * 100  # whole tenths of a kWh
    assert sale["units"] == units and sale["token"]["tenths"] == units // 100
    cost = min(units, room) + 2 * max(units - room, 0)
    assert sale["energy"] == cost and sale["carried"] == 10_000 - standing - cost
    assert sale["amount"] == sale["tax"] + sale["standing"] + sale["energy"] + sale["carried"] - sale["carried_before"]
    assert sale["lines"][0] == [0, min(units, room), 1_000_000]
    assert (sale["tariff"], sale["tax_bp"], sale["standing_per_day"]) == ("TIERED", 1_800, 100)
    assert sale["token"] == {"meter": "MTR-TARA", "subclass": 0, "tenths": units // 100,
                             "tid": (T0 - TID_BASE) // 60, "tid_base": "2014-01-01"}
    ledger = world.view("payments", "ledger", [world.utility])
    assert (ledger["token_sold"], ledger["token_tax"], ledger["token_standing"], ledger["token_energy"],
            ledger["token_carried"]) == (11_800, 1_800, standing, cost, sale["carried"])
    assert world.view("payments", "vendor_float", [world.utility, world.vendor.public_key])["float"] == 988_200
    # A big sale a minute later fills what is left of the first tier, then the second.
    big = sell(world, 300_000, "T-2", at=T0 + 60)
    left = min(room - min(units, room) + 5_000 * 60 // DAY, room)
    budget = 300_000 * 10_000 // 11_800 - big["standing"] + sale["carried"]
    units = expected_units(budget, left) // 100 * 100
    assert big["units"] == units and big["lines"] == [[0, left, 1_000_000], [1, units - left, 2_000_000]]
    assert big["energy"] == left + 2 * (units - left) and big["carried"] == budget - big["energy"]


def test_basic_the_vending_service_issues_the_token_and_the_meter_decodes_it(world: Any) -> None:
    setup_tara(world)
    sale = sell(world, 5_900, "T-1", at=T0)
    vendor = Vendor(VENDING_KEY)
    issued = issue_from_chain(vendor, {"MTR-TARA": TARA_METER}, world.view, sale["id"])
    assert len(issued.token) == 20 and issued.token.isdigit()
    data = decode_verified(issued.token, vendor.decoder_key(TARA_METER))
    assert (data.tid, data.subclass) == (sale["token"]["tid"], 0)
    assert issued.value == sale["token"]["tenths"]
    assert issued_at(data.tid, BaseDate.Y2014).timestamp() == (T0 // 60) * 60


def test_basic_readings_of_a_token_meter_are_recorded_never_drawn_down(world: Any) -> None:
    tara = setup_tara(world)
    sell(world, 5_900, "T-1", at=T0)
    r = world.ok(tara, "billing", "submit_reading", [world.meters["tara"], "1.8.0", T0 + 3600, 40_000, "consumer",
                                                    b"", b""], at=T0 + 3600)
    assert [e.name for e in r.events if e.name in ("prepaid_charge", "credit_deducted", "disconnect_order")] == []
    assert world.view("billing", "last_reading", [world.meters["tara"]])["index"] == 40_000
    assert world.view("supply", "supply_status", [world.meters["tara"]])["status"] == "connected"
    assert world.view("payments", "token_account", [world.view("registry", "subscription",
                                                               [world.meters["tara"]])["id"]])["sales"] == 1


def test_basic_a_lost_token_is_reissued_as_the_same_token(world: Any) -> None:
    tara = setup_tara(world)
    sale = sell(world, 5_900, "T-1", at=T0)
    vendor = Vendor(VENDING_KEY)
    first = issue_from_chain(vendor, {"MTR-TARA": TARA_METER}, world.view, sale["id"])
    ledger = world.view("payments", "ledger", [world.utility])
    for n, who in enumerate((tara, world.vendor, world.operator)):
        r = world.ok(who, "payments", "reissue_token", [sale["id"], "lost the receipt"], at=T0 + 60 * (n + 1))
        (event,) = world.chain.events(r, "token_reissued")
        assert (event["tid"], event["tenths"], event["reissue"]) == (sale["token"]["tid"], sale["token"]["tenths"], n + 1)
        assert world.chain.return_value(r) == sale["token"]
    again = issue_from_chain(vendor, {"MTR-TARA": TARA_METER}, world.view, sale["id"])
    assert again.token == first.token  # same digits: the meter accepts it once
    assert world.view("payments", "ledger", [world.utility]) == ledger  # no money moved
    assert world.view("payments", "token_sale", [sale["id"]])["reissues"] == 3


def test_basic_two_sales_in_a_minute_take_the_next_minute_and_the_change_is_carried(world: Any) -> None:
    setup_tara(world)
    first = sell(world, 5_957, "T-1", at=T0)
    second = sell(world, 5_957, "T-2", at=T0 + 1)
    assert second["token"]["tid"] == first["token"]["tid"] + 1
    paid_until = world.view("registry", "subscription", [world.meters["tara"]])["opened_at"] + (
        first["standing"] * DAY // 100)
    assert second["carried_before"] == first["carried"] and second["standing_seconds"] == T0 + 1 - paid_until
    request = TokenRequest.from_sale(second)
    assert request.tid == second["token"]["tid"] and request.tenths == second["token"]["tenths"]


def test_invalid_token_sale_on_a_prepaid_meter_by_a_non_vendor_or_too_small(world: Any) -> None:
    tara = setup_tara(world)
    error = world.fail(world.vendor, "payments", "sell_token", [world.meters["bob"], 5_000, "T-1"], at=T0)
    assert "a token-meter subscription on MTR-B expected, found prepaid" in error
    error = world.fail(world.vendor, "payments", "buy_credit", [world.meters["tara"], 5_000, "T-2"], at=T0 + 1)
    assert "a prepaid subscription on MTR-TARA expected, found token" in error
    for n, who in enumerate((tara, world.operator)):
        error = world.fail(who, "payments", "sell_token", [world.meters["tara"], 5_000, "T-3"], at=T0 + 2 + n)
        assert "role vendor" in error
    error = world.fail(world.vendor, "payments", "sell_token", [world.meters["tara"], 200, "T-4"], at=T0 + 5)
    assert "a sale buying at least 0.1 kWh expected, found 200" in error and "standing charge" in error
    error = world.fail(tara, "payments", "request_emergency_credit", [world.meters["tara"], 100], at=T0 + 6)
    assert "a prepaid subscription on MTR-TARA expected, found token" in error
    assert world.view("payments", "ledger", [world.utility])["token_sold"] == 0


def test_invalid_reissue_by_a_stranger_of_an_unknown_sale_or_without_reason(world: Any) -> None:
    setup_tara(world)
    sale = sell(world, 5_900, "T-1", at=T0)
    error = world.fail(world.bob, "payments", "reissue_token", [sale["id"], "lost"], at=T0 + 1)
    assert "the consumer, the selling vendor or an operator of ELEC expected" in error
    error = world.fail(world.operator, "payments", "reissue_token", ["TOK-0000000099", "lost"], at=T0 + 2)
    assert "a recorded token sale expected, found no sale TOK-0000000099" in error
    error = world.fail(world.operator, "payments", "reissue_token", [sale["id"], ""], at=T0 + 3)
    assert "a reason of 1 to 256 characters expected" in error
    assert world.view("payments", "token_sale", [sale["id"]])["reissues"] == 0


def test_basic_a_sale_beyond_1638_kwh_carries_what_the_token_carries_exactly(world: Any) -> None:
    setup_tara(world)
    world.ok(world.admin, "payments", "register_vendor_float", [world.utility, world.vendor.public_key, 5_000_000])
    sale = sell(world, 4_000_000, "T-1", at=T0)
    room = 5_000 * 31
    budget = 4_000_000 * 10_000 // 11_800 - sale["standing"]
    wanted = expected_units(budget, room) // 100
    carried = wanted
    while decode_amount_field(encode_amount_units(carried)) != carried:
        carried -= 1
    assert wanted > 16_383 and sale["token"]["tenths"] == carried < wanted
    assert sale["carried"] == budget - sale["energy"] and sale["carried"] > 0  # the rest waits
