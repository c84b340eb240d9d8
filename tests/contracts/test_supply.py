"""Named-actor scenarios for the supply contract: consumer protection around every
disconnection order, load limits, reconnection. Dunning is in ``test_supply_dunning.py``.

Timeline: genesis is Wednesday 2025-01-01T00:00Z. ``alice_in_arrears`` bills alice 10.00 TRY
on the first day with the default 14-day due date, so from Thursday 2025-01-16 (``THU``)
she owes money. Default protection rules: orders only 08:00-17:00 UTC on weekdays.
"""

from __future__ import annotations

from tests.contracts.conftest import FIELD, GENESIS_TIME, UTILITY

DAY = 86400
HOUR = 3600
THU = GENESIS_TIME + 15 * DAY  # Thursday 2025-01-16T00:00Z
FRI = THU + DAY
SAT = THU + 2 * DAY
MON = THU + 4 * DAY


def one(world, receipt, name, contract=None):
    found = world.events(receipt, name, contract)
    assert len(found) == 1, f"one {name} event expected, found {len(found)}: {receipt.error}"
    return found[0]


def in_arrears(world, consumer, meter, wh=4_000):
    """Bill ``wh`` of consumption now (due in 14 days); returns the invoice total."""
    world.flat_tariff(meter)
    t = world.chain.time + 2 * HOUR
    world.ok(consumer, "billing", "submit_reading", [meter, "1.8.0", t, wh, "consumer", b"", b""], at=t)
    r = world.ok(world.operator, "billing", "close_period", [meter], at=t + 60)
    return one(world, r, "invoice")["total"]


def alice_in_arrears(world):
    total = in_arrears(world, world.alice, "MTR-A")
    assert total == 1_000
    return total


def status(world, meter):
    return world.view("supply", "supply_status", [meter])["status"]


# --- disconnection: the happy path -----------------------------------------------------


def test_operator_disconnects_alice_in_arrears(world):
    alice_in_arrears(world)
    assert world.view("billing", "arrears", ["MTR-A"]) == 0  # invoiced, not yet due
    r = world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid invoice"], at=THU + 10 * HOUR)
    assert world.view("billing", "arrears", ["MTR-A"]) == 1_000
    order = one(world, r, "disconnect_order")
    assert order["meter"] == "MTR-A" and order["reason"] == "unpaid invoice"
    assert order["arrears"] == 1_000 and order["by"] == world.operator.public_key
    assert order["at"] == THU + 10 * HOUR
    st = world.view("supply", "supply_status", ["MTR-A"])
    assert (st["status"], st["since"], st["reason"], st["arrears"]) == ("disconnected", THU + 10 * HOUR, "unpaid invoice", 1_000)
    assert world.view("supply", "supply_counts", [FIELD]) == {"disconnected": 1, "load_limited": 0}
    log = world.view("supply", "orders", ["MTR-A", 0, 10])
    assert [(o["kind"], o["reason"], o["by"]) for o in log] == [("disconnect", "unpaid invoice", world.operator.public_key)]


def test_invalid_disconnect_twice(world):
    alice_in_arrears(world)
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"])
    assert "connected or load-limited expected, found it disconnected" in err


def test_invalid_consumer_cannot_order_disconnect(world):
    alice_in_arrears(world)
    for actor in (world.bob, world.agent, world.vendor):
        err = world.fail(actor, "supply", "request_disconnect", ["MTR-A", "spite"], at=None)
        assert "role operator or admin of utility ELEC expected" in err
    assert status(world, "MTR-A") == "connected"


def test_invalid_disconnect_without_reason(world):
    alice_in_arrears(world)
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", ""], at=THU + 10 * HOUR)
    assert "a reason of 1 to 256 characters expected" in err


# --- friendly hours --------------------------------------------------------------------


def test_invalid_disconnect_in_friendly_hours(world):
    alice_in_arrears(world)
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 22 * HOUR)
    assert "friendly hours: outside 08:00-17:00 (local 22:00 on Thursday" in err
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=FRI + 7 * HOUR + 59 * 60)
    assert "friendly hours: outside 08:00-17:00 (local 07:59 on Friday" in err
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=SAT + 10 * HOUR)
    assert "friendly hours: weekend (local 10:00 on Saturday" in err
    assert status(world, "MTR-A") == "connected"
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=MON + 8 * HOUR)


def test_invalid_disconnect_on_utility_holiday(world):
    alice_in_arrears(world)
    holiday = THU // DAY
    world.ok(world.admin, "supply", "set_protection_rules", [UTILITY, {"holidays": [holiday]}])
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert f"friendly hours: holiday (local 10:00 on Thursday, day {holiday})" in err


def test_disconnection_window_follows_local_time(world):
    alice_in_arrears(world)
    r = world.ok(world.admin, "supply", "set_protection_rules",
                 [UTILITY, {"utc_offset": 3 * HOUR, "start_minute": 9 * 60, "end_minute": 16 * 60,
                            "eve_off": True}])
    assert one(world, r, "protection_rules_set")["by"] == world.admin.public_key
    window = lambda t: world.view("supply", "disconnection_window", [UTILITY, t])  # noqa: E731
    assert window(THU + 6 * HOUR) == {"allowed": True, "reason": ""}  # 09:00 in Istanbul
    assert window(THU + 5 * HOUR)["reason"].startswith("friendly hours: outside 09:00-16:00 (local 08:00")
    assert window(THU + 13 * HOUR)["reason"].startswith("friendly hours: outside 09:00-16:00 (local 16:00")
    assert window(FRI + 8 * HOUR)["reason"].startswith("friendly hours: eve of a non-working day")
    assert window(SAT - 2 * HOUR)["reason"].startswith("friendly hours: weekend (local 01:00 on Saturday")
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 6 * HOUR)


def test_invalid_protection_rules(world):
    err = world.fail(world.operator, "supply", "set_protection_rules", [UTILITY, {"weekends_off": False}])
    assert "role admin of utility ELEC expected" in err
    err = world.fail(world.admin, "supply", "set_protection_rules", [UTILITY, {"start_minute": 1000, "end_minute": 900}])
    assert "0 <= start_minute < end_minute <= 1440 expected, found 1000 and 900" in err
    err = world.fail(world.admin, "supply", "set_protection_rules", [UTILITY, {"utc_offset": 15 * HOUR}])
    assert "utc_offset in seconds within +-50400 expected" in err
    err = world.fail(world.admin, "supply", "set_protection_rules", [UTILITY, {"lunch": True}])
    assert "rule among utc_offset, offset_changes, start_minute" in err
    assert world.view("supply", "protection_rules", [UTILITY])["weekends_off"] is True


# --- local time rules: an offset table with daylight saving -----------------------------

# Central European Time: UTC+1 in winter, UTC+2 from 2025-03-30T01:00Z (local 02:00 becomes
# 03:00, the skipped hour) to 2025-10-26T01:00Z (local 03:00 becomes 02:00, the hour that
# repeats). Both changes fall on a Sunday, so weekends are working days in these rules.
SPRING = 1743296400  # 2025-03-30T01:00Z, Sunday
AUTUMN = 1761440400  # 2025-10-26T01:00Z, Sunday
CET_RULES = {"utc_offset": HOUR, "offset_changes": [[SPRING, 2 * HOUR], [AUTUMN, HOUR]],
             "start_minute": 2 * 60 + 30, "end_minute": 17 * 60, "weekends_off": False}


def test_window_across_the_skipped_hour(world):
    world.ok(world.admin, "supply", "set_protection_rules", [UTILITY, CET_RULES])
    window = lambda t: world.view("supply", "disconnection_window", [UTILITY, t])  # noqa: E731
    offset = lambda t: world.view("supply", "local_offset", [UTILITY, t])  # noqa: E731
    assert [offset(SPRING - 1), offset(SPRING), offset(AUTUMN - 1), offset(AUTUMN)] == [HOUR, 2 * HOUR, 2 * HOUR, HOUR]
    assert offset(THU) == HOUR  # before the first change: the base utc_offset
    # 00:59:59Z is local 01:59:59; one second later it is local 03:00: 02:30 never happens.
    assert window(SPRING - 1)["reason"].startswith("friendly hours: outside 02:30-17:00 (local 01:59 on Sunday")
    assert window(SPRING) == {"allowed": True, "reason": ""}


def test_window_across_the_repeated_hour(world):
    alice_in_arrears(world)
    world.ok(world.admin, "supply", "set_protection_rules", [UTILITY, CET_RULES])
    window = lambda t: world.view("supply", "disconnection_window", [UTILITY, t])  # noqa: E731
    # Local 02:00-03:00 happens twice: first at UTC+2 (00:00-01:00Z), then at UTC+1 (01:00-02:00Z).
    assert window(AUTUMN - 30 * 60) == {"allowed": True, "reason": ""}  # local 02:30, the first time
    assert window(AUTUMN)["reason"].startswith("friendly hours: outside 02:30-17:00 (local 02:00 on Sunday")
    assert window(AUTUMN + 30 * 60 - 1)["reason"].startswith("friendly hours: outside 02:30-17:00 (local 02:29")
    assert window(AUTUMN + 30 * 60) == {"allowed": True, "reason": ""}  # local 02:30, the second time
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=AUTUMN + 30 * 60)


def test_invalid_disconnect_in_the_repeated_hour_before_the_window(world):
    alice_in_arrears(world)
    world.ok(world.admin, "supply", "set_protection_rules", [UTILITY, CET_RULES])
    # 01:10Z: local 02:10 for the second time, before the 02:30 start (with a fixed UTC+2 it
    # would have been 03:10 and open).
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=AUTUMN + 10 * 60)
    assert "friendly hours: outside 02:30-17:00 (local 02:10 on Sunday" in err
    assert status(world, "MTR-A") == "connected"


def test_invalid_offset_changes(world):
    def refused(changes):
        return world.fail(world.admin, "supply", "set_protection_rules", [UTILITY, {"offset_changes": changes}])
    assert "offset changes in strictly ascending order of time expected, found 1000 after 2000" in refused(
        [[2000, HOUR], [1000, 2 * HOUR]])
    assert "offset changes in strictly ascending order of time expected, found 1000 after 1000" in refused(
        [[1000, HOUR], [1000, 2 * HOUR]])
    assert "offset change's offset in seconds within +-50400 expected" in refused([[1000, 15 * HOUR]])
    assert "offset change: [from unix time, offset seconds] expected" in refused([[1000]])
    assert "offset_changes: a list of at most 400 [from, offset] pairs expected" in refused(
        [[i, HOUR] for i in range(401)])
    err = world.fail(world.operator, "supply", "set_protection_rules", [UTILITY, CET_RULES])
    assert "role admin of utility ELEC expected" in err
    assert world.view("supply", "protection_rules", [UTILITY])["offset_changes"] == []
    assert world.view("supply", "local_offset", [UTILITY, AUTUMN]) == 0


# --- protected customers, reversals, the arrears check ---------------------------------


def test_invalid_disconnect_protected_customer(world):
    alice_in_arrears(world)
    world.ok(world.operator, "registry", "set_protected", ["MTR-A", True, "dialysis at home"])
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert "meter MTR-A serves a protected customer: no disconnection" in err
    assert status(world, "MTR-A") == "connected"


def test_invalid_disconnect_without_arrears(world):
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err


def test_invalid_disconnect_before_the_due_date(world):
    alice_in_arrears(world)  # invoiced on 2025-01-01, due on the 15th
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"],
                     at=GENESIS_TIME + 7 * DAY + 10 * HOUR)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err


def test_invalid_disconnect_after_alice_paid(world):
    alice_in_arrears(world)
    world.ok(world.agent, "payments", "record_payment", ["MTR-A", 1_000, "RCPT-1"], at=THU + 9 * HOUR)
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err


def test_invalid_disconnect_while_reversal_pending(world):
    alice_in_arrears(world)
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-A", 1_000, "RCPT-1"], at=THU + 9 * HOUR)
    payment_id = one(world, r, "payment")["id"]
    world.ok(world.agent, "payments", "reverse_payment", [payment_id, "cheque bounced"], at=THU + 9 * HOUR + 60)
    assert world.view("billing", "arrears", ["MTR-A"]) == 1_000
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert "a payment reversal is pending on meter MTR-A: no disconnection" in err
    # The next working day the arrears stand and the order goes through.
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=FRI + 10 * HOUR)


def test_invalid_disconnect_new_tenant_for_the_previous_tenants_debt(world):
    alice_in_arrears(world)
    carol = world.chain.actor("carol")
    world.ok(world.operator, "registry", "move_in", ["MTR-A", carol.public_key, 4_000])
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err
    # alice's debt is still on the books (billing), it is just not carol's.
    assert world.view("billing", "subscription_balance", ["MTR-A#1"])["arrears"] == 1_000
    assert world.view("billing", "arrears", ["MTR-A"]) == 0


def test_prepaid_disconnect_when_credit_exhausted(world):
    assert world.view("payments", "credit", ["MTR-B"]) == 0
    r = world.ok(world.operator, "supply", "request_disconnect", ["MTR-B", "no credit"], at=THU + 10 * HOUR)
    order = one(world, r, "disconnect_order")
    assert (order["mode"], order["arrears"], order["balance"]) == ("prepaid", 0, 0)


def test_invalid_disconnect_prepaid_with_credit(world):
    world.ok(world.agent, "payments", "record_payment", ["MTR-B", 1_000, "TOPUP-1"], at=THU + 9 * HOUR)
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-B", "no credit"], at=THU + 10 * HOUR)
    assert "prepaid credit <= 0 expected for disconnection, found 1000" in err


# --- orders from contracts -------------------------------------------------------------


def bob_runs_out(world, at):
    """bob has 1.00 TRY of credit and reads 1 kWh (2.50 TRY) at ``at``."""
    world.flat_tariff("MTR-B")
    world.ok(world.agent, "payments", "record_payment", ["MTR-B", 100, "TOPUP-1"], at=at - 3 * HOUR)
    return world.ok(world.bob, "billing", "submit_reading", ["MTR-B", "1.8.0", at, 1_000, "consumer", b"", b""], at=at)


def test_prepaid_exhaustion_orders_disconnect_through_payments(world):
    r = bob_runs_out(world, THU + 10 * HOUR)
    order = one(world, r, "disconnect_order")
    assert order["by"] == b"contract:payments" and order["reason"] == "prepaid credit exhausted"
    assert order["balance"] == -150 and order["arrears"] == 150
    assert status(world, "MTR-B") == "disconnected"


def test_invalid_prepaid_exhaustion_at_night_is_deferred(world):
    r = bob_runs_out(world, THU + 23 * HOUR)
    assert r.ok, r.error  # the charge is recorded: the debt is kept even when supply stays on
    deferred = one(world, r, "disconnect_deferred")
    assert deferred["reason"] == "prepaid credit exhausted"
    assert deferred["reason_blocked"].startswith("friendly hours: outside 08:00-17:00 (local 23:00")
    assert world.chain.events(r, "disconnect_order") == []
    assert status(world, "MTR-B") == "connected"
    assert world.view("payments", "credit", ["MTR-B"]) == -150


def test_invalid_account_cannot_use_contract_entry_points(world):
    err = world.fail(world.operator, "supply", "try_disconnect", ["MTR-B", "x"])
    assert "caller contract payments or billing expected" in err
    err = world.fail(world.operator, "supply", "on_payment", ["MTR-B"])
    assert "caller contract payments expected" in err


# --- reconnection and load limits ------------------------------------------------------


def test_payment_reconnects_alice(world):
    alice_in_arrears(world)
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-A", 400, "RCPT-1"], at=THU + 23 * HOUR)
    assert world.chain.events(r, "reconnect_order") == []
    assert status(world, "MTR-A") == "disconnected"
    # Reconnection is never held back by friendly hours: it only helps the consumer.
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-A", 600, "RCPT-2"], at=SAT + 23 * HOUR)
    order = one(world, r, "reconnect_order")
    assert order["reason"] == "paid: postpaid arrears 0" and order["by"] == b"contract:payments"
    assert status(world, "MTR-A") == "connected"
    assert world.view("supply", "supply_counts", [UTILITY]) == {"disconnected": 0, "load_limited": 0}
    kinds = [o["kind"] for o in world.view("supply", "orders", ["MTR-A", 0, 10])]
    assert kinds == ["disconnect", "reconnect"]


def test_top_up_reconnects_bob(world):
    bob_runs_out(world, THU + 10 * HOUR)
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-B", 1_000, "TOPUP-2"], at=THU + 11 * HOUR)
    assert one(world, r, "reconnect_order")["reason"] == "paid: prepaid credit 850"
    assert status(world, "MTR-B") == "connected"


def test_operator_reconnects(world):
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-B", "no credit"], at=THU + 10 * HOUR)
    r = world.ok(world.operator, "supply", "request_reconnect", ["MTR-B", "payment plan agreed"])
    order = one(world, r, "reconnect_order")
    assert order["reason"] == "payment plan agreed" and order["by"] == world.operator.public_key
    assert status(world, "MTR-B") == "connected"


def test_invalid_reconnect(world):
    err = world.fail(world.operator, "supply", "request_reconnect", ["MTR-A", "x"])
    assert "meter MTR-A disconnected or load-limited expected, found it connected" in err
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-B", "no credit"], at=THU + 10 * HOUR)
    err = world.fail(world.bob, "supply", "request_reconnect", ["MTR-B", "please"])
    assert "role operator or admin of utility ELEC expected" in err


def test_operator_sets_load_limit(world):
    r = world.ok(world.operator, "supply", "set_load_limit", ["MTR-A", 1_500, "grid emergency"], at=SAT + 2 * HOUR)
    order = one(world, r, "load_limit_order")
    assert (order["watts"], order["reason"], order["by"]) == (1_500, "grid emergency", world.operator.public_key)
    st = world.view("supply", "supply_status", ["MTR-A"])
    assert (st["status"], st["watts"], st["for_arrears"]) == ("load_limited", 1_500, False)
    assert world.view("supply", "supply_counts", [UTILITY])["load_limited"] == 1


def test_invalid_load_limit(world):
    err = world.fail(world.operator, "supply", "set_load_limit", ["MTR-A", 0, "x"])
    assert "a load limit of 1 to 1000000000 watts expected, found the integer 0" in err
    err = world.fail(world.alice, "supply", "set_load_limit", ["MTR-A", 1_000, "x"])
    assert "role operator or admin of utility ELEC expected" in err


def test_load_limit_for_arrears_lifted_by_payment(world):
    world.ok(world.admin, "payments", "set_policy",
             [UTILITY, {"exhausted_action": "load_limit", "load_limit_watts": 500}])
    r = bob_runs_out(world, THU + 23 * HOUR)
    order = one(world, r, "load_limit_order")
    assert order["watts"] == 500 and order["by"] == b"contract:payments"
    assert world.view("supply", "supply_status", ["MTR-B"])["for_arrears"] is True
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-B", 1_000, "TOPUP-2"])
    one(world, r, "reconnect_order")
    assert status(world, "MTR-B") == "connected"
