"""A final index counts only as readings do (issue 9, item 9).

Named-actor scenarios on the local chain, flat tariff 2.50 TRY/kWh (4 Wh cost 1 kurus):
alice (postpaid, MTR-A) reads 4,000 Wh on her first day, so her history predicts about
4,000 Wh a day. An index she gives herself when she leaves counts at once only when it shows
at least that (a consumer reading within the plausibility rules: no later reading of hers
would catch up one read low); the operator's index counts as the operator's reading. Any
other final bill waits for the utility's next trusted reading (the collector's or a
meter-signed one), and alice stays the subscriber, billed, until then. carol is the next
tenant. Each ``test_basic_*`` has a ``test_invalid_*`` twin.
"""

from __future__ import annotations

from typing import Any

from tests.contracts.conftest import GENESIS_TIME
from tests.contracts.test_billing_support import meter_public_key, meter_seed, meter_sign

DAY = 86400
HOUR = 3600
T1 = GENESIS_TIME + DAY
LEAVE = T1 + DAY


def read(w: Any, actor: Any, ts: int, index: int, trust: str = "consumer", meter: str = "MTR-A",
         signature: bytes = b"") -> Any:
    return w.chain.call(actor, "billing", "submit_reading", [meter, "1.8.0", ts, index, trust, b"", signature], at=ts)


def alices_first_day(w: Any) -> None:
    w.flat_tariff("MTR-A")
    assert read(w, w.alice, T1, 4_000).ok


def test_invalid_final_index_at_the_last_reading_shifts_nothing_onto_the_next_tenant(make_world: Any) -> None:
    """The issue's case: alice uses 4,900 Wh more, then hands the flat to carol giving the
    last reading's index, 4,000, as her handover index, and carol signs for the flat at once.
    Whatever the collector reads next (8,900, an hour later) is alice's: her final invoice
    (the span since her opening: 4,000 + 4,900 Wh) has the 4,900 Wh, carol's first invoice
    only her own 100 Wh. Before, alice's index closed her account at 4,000 and carol's first
    invoice carried 5,000 Wh."""
    w = make_world(approval="auto")
    alices_first_day(w)
    carol = w.chain.actor("carol")
    w.ok(w.alice, "registry", "move_in", ["MTR-A", carol.public_key, 4_000], at=LEAVE)
    w.chain.call(carol, "registry", "accept_move_in", ["MTR-A", b""], at=LEAVE + 60)  # refused now: no offer yet
    settled = LEAVE + HOUR
    assert read(w, w.collector, settled, 8_900, trust="collector").ok
    if w.view("registry", "subscription", ["MTR-A"])["status"] == "offered":
        w.ok(carol, "registry", "accept_move_in", ["MTR-A", b""], at=settled + 1)
    finals = w.view("billing", "subscription_balance", ["MTR-A#1"])["open"]
    assert [(i["consumer"], i["consumption"]) for i in finals] == [(w.alice.public_key, 8_900)]
    assert read(w, carol, settled + DAY, 9_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=settled + DAY + 60))
    assert (inv["consumer"], inv["consumption"], inv["total"]) == (carol.public_key, 100, 25)


def test_basic_handover_index_that_does_not_count_waits_for_the_collector(make_world: Any) -> None:
    w = make_world(approval="auto")
    alices_first_day(w)
    carol = w.chain.actor("carol")
    r = w.ok(w.alice, "registry", "move_in", ["MTR-A", carol.public_key, 4_000], at=LEAVE)
    [awaited] = w.chain.events(r, "final_reading_awaited")
    assert (awaited["claimed_index"], awaited["subscription"]) == (4_000, "MTR-A#1")
    assert "history of meter MTR-A predicts" in awaited["reason"] and "found 0" in awaited["reason"]
    assert w.chain.events(r, "account_closed") == [] and w.chain.events(r, "premises_moved") == []
    sub = w.view("registry", "subscription", ["MTR-A"])
    assert (sub["id"], sub["status"], sub["closing"]["to"]) == ("MTR-A#1", "active", carol.public_key)
    err = w.fail(carol, "registry", "accept_move_in", ["MTR-A", b""], at=LEAVE + 60)
    assert "a subscription (offered) on meter MTR-A expected, found active" in err

    settled = LEAVE + HOUR
    r = read(w, w.collector, settled, 8_900, trust="collector")
    assert r.ok, r.error
    [closed] = w.chain.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    assert (final["consumer"], final["consumption"], final["total"], final["period_end"]) == (
        w.alice.public_key, 8_900, 2_225, settled)
    [moved] = w.chain.events(r, "premises_moved")
    assert (moved["reading_index"], moved["status"], moved["new_subscription"]) == (8_900, "offered", "MTR-A#2")
    history = w.view("registry", "subscription_history", ["MTR-A", "", 10])
    assert [(h["id"], h["final_index"], h["close_reason"]) for h in history] == [("MTR-A#1", 8_900, "moved out")]


def test_basic_alices_final_index_within_her_history_counts_at_once(world: Any) -> None:
    w = world
    alices_first_day(w)
    r = w.ok(w.alice, "registry", "terminate_subscription", ["MTR-A", 9_000], at=LEAVE)
    assert w.chain.events(r, "final_reading_awaited") == []
    [closed] = w.chain.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    assert (final["consumption"], final["total"], final["period_end"]) == (9_000, 2_250, LEAVE)
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "terminated"


def test_invalid_alices_own_readings_never_settle_her_final_bill(world: Any) -> None:
    """While the utility's reading is awaited alice is still the subscriber: her readings
    are billed to her as before, but neither they, nor a second request, nor a load profile
    end her subscription."""
    w = world
    alices_first_day(w)
    w.ok(w.alice, "registry", "terminate_subscription", ["MTR-A", 4_500], at=LEAVE)
    r = read(w, w.alice, LEAVE + HOUR, 8_000)
    assert r.ok, r.error
    assert w.chain.events(r, "account_closed") == []
    assert w.view("registry", "subscription", ["MTR-A"])["status"] == "active"
    err = w.fail(w.alice, "registry", "terminate_subscription", ["MTR-A", 8_000], at=LEAVE + 2 * HOUR)
    assert "the utility's reading to end subscription MTR-A#1 awaited, found a second request by its consumer" in err
    carol = w.chain.actor("carol")
    err = w.fail(w.alice, "registry", "move_in", ["MTR-A", carol.public_key, 8_000], at=LEAVE + 3 * HOUR)
    assert "the utility's reading to end subscription MTR-A#1 awaited" in err
    day = (LEAVE // DAY + 1) * DAY
    err = w.fail(w.collector, "billing", "submit_load_profile",
                 ["MTR-A", "1.8.0", day, 12 * HOUR, [8_000, 8_100, 8_200]], at=day + DAY)
    assert "a plain reading expected to settle the final bill of subscription MTR-A#1 on MTR-A, found a load profile" in err
    # The operator's final index counts: it ends the subscription at once.
    r = w.ok(w.operator, "registry", "terminate_subscription", ["MTR-A", 8_200], at=day + DAY + HOUR)
    [closed] = w.chain.events(r, "account_closed")
    final = w.view("billing", "invoice", [closed["invoice"]])
    assert (final["consumption"], final["period_end"]) == (8_200, day + DAY + HOUR)
    assert w.view("billing", "billing_state", ["MTR-A"]).get("closing") is None


def test_basic_operators_final_index_counts_as_the_operators_reading(world: Any) -> None:
    w = world
    alices_first_day(w)
    r = w.ok(w.operator, "registry", "terminate_subscription", ["MTR-A", 4_000], at=LEAVE)
    assert w.chain.events(r, "final_reading_awaited") == []
    assert w.chain.events(r, "account_closed")[0]["final_index"] == 4_000


def test_basic_a_meter_signed_reading_settles_the_awaited_final_bill(world: Any) -> None:
    """Anyone may relay a meter-signed reading, alice included: the meter's word is trusted."""
    w = world
    seed = meter_seed("alices-smart-meter")
    w.register_meter("MTR-S", public_key=meter_public_key(seed))
    w.ok(w.alice, "registry", "subscribe", ["MTR-S", "postpaid", b""])
    w.ok(w.operator, "registry", "approve_subscription", ["MTR-S"])
    w.flat_tariff("MTR-S")
    assert read(w, w.alice, T1, 4_000, meter="MTR-S").ok
    w.ok(w.alice, "registry", "terminate_subscription", ["MTR-S", 4_000], at=LEAVE)
    signature = meter_sign(seed, "MTR-S", "1.8.0", 8_000, "Wh", LEAVE + HOUR)
    r = read(w, w.alice, LEAVE + HOUR, 8_000, trust="meter", meter="MTR-S", signature=signature)
    assert r.ok, r.error
    [closed] = w.chain.events(r, "account_closed")
    assert w.view("billing", "invoice", [closed["invoice"]])["consumption"] == 8_000  # since her opening
    ended = w.view("registry", "subscription", ["MTR-S"])
    assert (ended["status"], ended["final_index"], ended["close_reason"]) == ("terminated", 8_000, "terminated")


def test_invalid_final_index_the_plausibility_rules_refuse(world: Any) -> None:
    """A final index over the meter's maximum rate is an anomaly: as a consumer's it waits
    for a trusted reading; behind the last reading (no plausible roll-over) it is refused
    whoever gives it."""
    w = world
    alices_first_day(w)
    r = w.ok(w.alice, "registry", "terminate_subscription", ["MTR-A", 4_000 + 20_000 * 24 + 1], at=LEAVE)
    [awaited] = w.chain.events(r, "final_reading_awaited")
    assert "at most 480000 expected in 86400 s, found 480001" in awaited["reason"]
    err = w.fail(w.operator, "registry", "terminate_subscription", ["MTR-A", 3_999], at=LEAVE + HOUR)
    assert "index >= 4000 expected for meter MTR-A" in err


def test_basic_prepaid_final_charge_waits_for_the_collector(world: Any) -> None:
    """bob (prepaid) leaves with an index that does not count: the collector's reading
    charges his credit for what he used, then closes his account."""
    w = world
    w.flat_tariff("MTR-B")
    w.ok(w.admin, "payments", "register_vendor_float", ["ELEC", w.vendor.public_key, 10_000])
    w.ok(w.vendor, "payments", "buy_credit", ["MTR-B", 5_000, "V-1"], at=T1 - 60)
    assert read(w, w.bob, T1, 4_000, meter="MTR-B").ok
    w.ok(w.bob, "registry", "terminate_subscription", ["MTR-B", 4_000], at=LEAVE)
    assert w.view("payments", "subscription_account", ["MTR-B#1"])["balance"] == 4_000
    r = read(w, w.collector, LEAVE + HOUR, 8_000, trust="collector", meter="MTR-B")
    assert r.ok, r.error
    [charge] = w.chain.events(r, "prepaid_charge")
    assert (charge["subscription"], charge["consumption"], charge["amount"]) == ("MTR-B#1", 4_000, 1_000)
    assert w.chain.events(r, "account_closed")[0]["subscription"] == "MTR-B#1"
    assert w.view("payments", "subscription_account", ["MTR-B#1"])["balance"] == 3_000
    assert w.view("registry", "subscription", ["MTR-B"])["status"] == "terminated"
