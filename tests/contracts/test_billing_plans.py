"""Payment plans (issue 12): alice's unpaid invoices turned into instalments; while she keeps
the plan she is neither disconnected, reminded nor charged late fees for them; a missed
instalment ends it and they are arrears again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.conftest import FIELD, GENESIS_TIME
from tests.contracts.test_billing_support import DAY, read, setup_tariff

T1 = GENESIS_TIME + DAY
T2 = T1 + 2 * DAY
WEEK = 7 * DAY
REASON = "lost her job; agreed by phone"


@pytest.fixture
def w(world: Any) -> Any:
    setup_tariff(world)
    return world


def alice_overdue(w: Any) -> tuple[int, int]:
    """alice's two invoices (the second 6,840), both overdue on Monday 10:00 UTC; returns
    (that time, what she owes)."""
    assert read(w, w.alice, "MTR-A", T1, 1_000).ok
    w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T1 + 1)
    assert read(w, w.alice, "MTR-A", T2, 26_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=T2 + 5))
    late = inv["due"] + 2 * DAY + 10 * 3600 - 5  # Monday 2025-01-20 10:00 UTC
    owed = sum(i["total"] - i["paid"] for i in w.view("billing", "open_invoices", ["MTR-A"]))
    return late, owed


def three_weekly(late: int, owed: int) -> list[list[int]]:
    part = owed // 3
    return [[late + WEEK, part], [late + 2 * WEEK, part], [late + 3 * WEEK, owed - 2 * part]]


def test_alice_keeps_her_plan_and_is_not_disconnected(w: Any) -> None:
    late, owed = alice_overdue(w)
    plan = three_weekly(late, owed)
    r = w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", plan, REASON], at=late)
    [ev] = w.events(r, "payment_plan_opened")
    assert (ev["id"], ev["amount"], ev["instalments"], ev["invoices"]) == (
        "MTR-A#1/P001", owed, plan, ["MTR-A/000001", "MTR-A/000002"])
    assert w.view("billing", "arrears", ["MTR-A"]) == 0
    assert w.view("billing", "open_plan_count", [FIELD]) == 1
    err = w.fail(w.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=late + 60)
    assert "postpaid arrears > 0 expected for disconnection, found 0" in err
    assert w.view("supply", "arrears_list", [w.utility, FIELD, "", 100]) == []
    # She pays the first instalment on time; after its due date the plan still holds.
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", plan[0][1], "RCPT-1"], at=late + WEEK - 3600)
    err = w.fail(w.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=late + WEEK + 3600)
    assert "found 0" in err
    view = w.view("billing", "payment_plan", ["MTR-A"])
    assert (view["state"], view["still_owed"], view["scheduled_after"]) == ("kept", owed - plan[0][1], owed - plan[0][1])
    assert w.chain.return_value(w.ok(w.alice, "billing", "check_payment_plan", ["MTR-A"])) == "kept"


def test_a_missed_instalment_ends_alices_plan_and_she_can_be_disconnected(w: Any) -> None:
    late, owed = alice_overdue(w)
    plan = three_weekly(late, owed)
    w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", plan, REASON], at=late)
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", plan[0][1] - 1, "RCPT-1"], at=late + DAY)
    # One unit short of the first instalment: missed once it is due.
    assert w.view("billing", "arrears", ["MTR-A"]) == 0
    # Due and unpaid: a view sees it missed at once, before anyone records it.
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"due_days": 14}], at=late + WEEK + 60)  # a block
    assert w.view("billing", "payment_plan", ["MTR-A"])["state"] == "missed"
    assert w.view("billing", "arrears", ["MTR-A"]) == owed - plan[0][1] + 1
    r = w.ok(w.collector, "billing", "check_payment_plan", ["MTR-A"], at=late + WEEK + 7200)
    assert w.chain.return_value(r) == "missed"
    [ev] = w.events(r, "payment_plan_missed")
    assert (ev["id"], ev["still_owed"], ev["scheduled_after"]) == ("MTR-A#1/P001", owed - plan[0][1] + 1,
                                                                   owed - plan[0][1])
    assert w.view("billing", "payment_plan", ["MTR-A"]) is None
    [ended] = w.view("billing", "payment_plans", ["MTR-A#1"])
    assert (ended["status"], ended["ended_at"]) == ("missed", late + WEEK + 7200)
    assert w.view("billing", "open_plan_count", [FIELD]) == 0
    counts = w.view("billing", "activity", [w.utility, 0, 100_000])
    assert (counts["payment_plan_opened"], counts["payment_plan_missed"]) == (1, 1)
    w.ok(w.operator, "supply", "request_disconnect", ["MTR-A", "plan missed"], at=late + WEEK + 3 * 3600)


def test_alice_completes_her_plan(w: Any) -> None:
    late, owed = alice_overdue(w)
    w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), REASON], at=late)
    w.ok(w.agent, "payments", "record_payment", ["MTR-A", owed, "RCPT-1"], at=late + DAY)
    r = w.ok(w.alice, "billing", "check_payment_plan", ["MTR-A"], at=late + DAY + 60)
    assert len(w.events(r, "payment_plan_completed")) == 1
    assert w.view("billing", "open_plan_count", [FIELD]) == 0


def test_no_late_fee_on_invoices_a_kept_plan_covers(w: Any) -> None:
    w.ok(w.admin, "billing", "set_billing_config", ["ELEC", {"late_fee_bp": 500}])
    late, owed = alice_overdue(w)
    w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), REASON], at=late)
    assert read(w, w.alice, "MTR-A", late + 60, 30_000).ok
    inv = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=late + 120))
    assert [ln for ln in inv["lines"] if ln["kind"] == "late_fee"] == []
    # Once the plan is missed, the next invoice charges them (the control).
    w.ok(w.operator, "billing", "check_payment_plan", ["MTR-A"], at=late + WEEK + 60)
    assert read(w, w.alice, "MTR-A", late + WEEK + 120, 31_000).ok
    nxt = w.chain.return_value(w.ok(w.operator, "billing", "close_period", ["MTR-A"], at=late + WEEK + 180))
    assert [ln["detail"] for ln in nxt["lines"] if ln["kind"] == "late_fee"] == ["MTR-A/000001", "MTR-A/000002"]


def test_invalid_plan_by_the_agent_or_alice(w: Any) -> None:
    late, owed = alice_overdue(w)
    for n, actor in enumerate((w.agent, w.alice)):
        err = w.fail(actor, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), REASON], at=late + n)
        assert "caller with role operator or admin of utility ELEC expected" in err


def test_invalid_plan_that_does_not_add_up_or_is_out_of_order(w: Any) -> None:
    late, owed = alice_overdue(w)
    plan = three_weekly(late, owed)
    plan[2][1] += 1
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", plan, REASON], at=late)
    assert f"instalments adding up to the {owed} the subscription's open invoices owe expected, found {owed + 1}" in err
    plan = three_weekly(late, owed)
    plan[1][0] = plan[0][0]
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", plan, REASON], at=late + 1)
    assert f"instalments due after {plan[0][0]} (now, then each after the one before) expected, found one due {plan[0][0]}" in err
    plan = three_weekly(late, owed)
    plan[0][0] = late - 1
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", plan, REASON], at=late + 2)
    assert f"found one due {late - 1}" in err
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", [], REASON], at=late + 3)
    assert "1 to 36 instalments [due time, amount] expected" in err
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), ""], at=late + 4)
    assert "a reason of 1 to 256 characters expected, found 0 characters" in err


def test_invalid_second_plan_while_alice_keeps_one(w: Any) -> None:
    late, owed = alice_overdue(w)
    w.ok(w.operator, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), REASON], at=late)
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", three_weekly(late, owed), REASON], at=late + 1)
    assert "one payment plan at a time expected, found MTR-A#1/P001 kept on subscription MTR-A#1" in err


def test_invalid_plan_without_open_invoices_or_on_bobs_prepaid_meter(w: Any) -> None:
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-A", [[T2, 100]], REASON])
    assert "open invoices to spread expected on meter MTR-A, found none" in err
    err = w.fail(w.operator, "billing", "open_payment_plan", ["MTR-B", [[T2, 100]], REASON])
    assert "an active postpaid subscription on meter MTR-B expected, found none" in err
