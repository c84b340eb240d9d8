"""Dunning: arrears lists per branch and field, reminder events, and supply counts."""

from __future__ import annotations

from tests.contracts.conftest import BRANCH, FIELD, UTILITY
from tests.contracts.test_supply import HOUR, THU, in_arrears, one

FIELD2 = "ELEC/KADIKOY/F2"


def debtors(world):
    """alice (field F1, owes 10.00) and carol (field F2, owes 5.00); dave pays on time."""
    world.ok(world.admin, "registry", "register_field", [FIELD2, "Fenerbahce", "40.97,29.04"])
    carol = world.new_consumer("carol", "postpaid", field_id=FIELD2)
    dave = world.new_consumer("dave", "postpaid")
    assert in_arrears(world, world.alice, "MTR-A") == 1_000
    assert in_arrears(world, carol, "MTR-CAROL", wh=2_000) == 500
    total = in_arrears(world, dave, "MTR-DAVE", wh=1_000)
    world.ok(world.agent, "payments", "record_payment", ["MTR-DAVE", total, "RCPT-D"])
    return carol, dave


def test_arrears_list_per_field_and_branch(world):
    debtors(world)
    world.ok(world.operator, "registry", "set_segment", ["MTR-A", "commercial"], at=THU + 9 * HOUR)
    field1 = world.view("supply", "arrears_list", [UTILITY, FIELD, "", 100])
    assert [(e["meter"], e["consumer"], e["arrears"]) for e in field1] == [("MTR-A", world.alice.public_key, 1_000)]
    assert 0 < field1[0]["oldest_due"] < THU
    field2 = world.view("supply", "arrears_list", [UTILITY, FIELD2, "", 100])
    assert [(e["meter"], e["arrears"]) for e in field2] == [("MTR-CAROL", 500)]
    branch = world.view("supply", "arrears_list", [UTILITY, BRANCH, "", 100])
    assert [e["meter"] for e in branch] == ["MTR-A", "MTR-CAROL"]
    assert world.view("supply", "arrears_list", [UTILITY, "", "", 100]) == branch
    # Paging: one at a time, continuing after the last meter listed.
    first = world.view("supply", "arrears_list", [UTILITY, BRANCH, "", 1])
    assert [e["meter"] for e in first] == ["MTR-A"]
    rest = world.view("supply", "arrears_list", [UTILITY, BRANCH, "MTR-A", 1])
    assert [e["meter"] for e in rest] == ["MTR-CAROL"]


def test_invalid_arrears_list_of_another_utilitys_scope(world):
    from node.localchain import ViewError

    try:
        world.view("supply", "arrears_list", [UTILITY, "WATER/X", "", 10])
    except ViewError as exc:
        assert "a branch or field of utility ELEC expected, found 'WATER/X'" in str(exc)
    else:
        raise AssertionError("arrears_list accepted a scope of another utility")


def test_operator_sends_reminders_to_debtors(world):
    carol, _ = debtors(world)
    r = world.ok(world.operator, "supply", "send_reminders", [UTILITY, BRANCH, "", 50], at=THU + 9 * HOUR)
    reminders = world.chain.events(r, "reminder")
    assert [(e["meter"], e["arrears"], e["by"]) for e in reminders] == [
        ("MTR-A", 1_000, world.operator.public_key),
        ("MTR-CAROL", 500, world.operator.public_key),
    ]
    assert reminders[1]["consumer"] == carol.public_key
    summary = one(world, r, "reminders_sent")
    assert (summary["count"], summary["next"]) == (2, "")


def test_reminders_page_through_a_scope(world):
    debtors(world)
    r = world.ok(world.operator, "supply", "send_reminders", [UTILITY, FIELD, "", 2], at=THU + 9 * HOUR)
    assert [e["meter"] for e in world.chain.events(r, "reminder")] == ["MTR-A"]
    nxt = one(world, r, "reminders_sent")["next"]
    assert nxt == "MTR-B"
    r = world.ok(world.operator, "supply", "send_reminders", [UTILITY, FIELD, nxt, 2])
    assert world.chain.events(r, "reminder") == []
    assert one(world, r, "reminders_sent")["next"] == ""


def test_invalid_agent_cannot_send_reminders(world):
    err = world.fail(world.agent, "supply", "send_reminders", [UTILITY, FIELD, "", 50])
    assert "role operator or admin of utility ELEC expected" in err


def test_invalid_reminders_outside_the_utility(world):
    err = world.fail(world.operator, "supply", "send_reminders", [UTILITY, "GAS/X", "", 50])
    assert "a branch or field of utility ELEC expected, found 'GAS/X'" in err


def test_supply_counts_per_scope(world):
    debtors(world)
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=THU + 10 * HOUR)
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-CAROL", "unpaid"])
    world.ok(world.operator, "supply", "set_load_limit", ["MTR-DAVE", 2_000, "feeder overload"])
    assert world.view("supply", "supply_counts", [FIELD]) == {"disconnected": 1, "load_limited": 1}
    assert world.view("supply", "supply_counts", [FIELD2]) == {"disconnected": 1, "load_limited": 0}
    assert world.view("supply", "supply_counts", [UTILITY]) == {"disconnected": 2, "load_limited": 1}


def test_alice_is_reminded_disconnected_by_the_rules_and_reconnected_when_she_pays(world):
    from tests.contracts.test_supply import FRI, SAT, alice_in_arrears

    alice_in_arrears(world)
    # Thursday morning: the operator reminds everyone in the field who owes money.
    r = world.ok(world.operator, "supply", "send_reminders", [UTILITY, FIELD, "", 50], at=THU + 9 * HOUR)
    assert [e["meter"] for e in world.chain.events(r, "reminder")] == ["MTR-A"]
    listed = world.view("supply", "arrears_list", [UTILITY, FIELD, "", 100])
    assert [(e["meter"], e["reminded_at"]) for e in listed] == [("MTR-A", THU + 9 * HOUR)]
    # Thursday night: too late in the day to cut anyone off.
    err = world.fail(world.operator, "supply", "request_disconnect", ["MTR-A", "reminded, unpaid"], at=THU + 22 * HOUR)
    assert "friendly hours" in err
    # Friday morning: every rule passes; the order records the arrears found.
    r = world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "reminded, unpaid"], at=FRI + 9 * HOUR)
    assert one(world, r, "disconnect_order")["arrears"] == 1_000
    assert world.view("supply", "supply_counts", [BRANCH])["disconnected"] == 1
    # Saturday night: alice pays at an agent; supply reconnects her at once.
    r = world.ok(world.agent, "payments", "record_payment", ["MTR-A", 1_000, "RCPT-77"], at=SAT + 21 * HOUR)
    assert one(world, r, "reconnect_order")["meter"] == "MTR-A"
    assert world.view("supply", "arrears_list", [UTILITY, FIELD, "", 100]) == []
    log = world.view("supply", "orders", ["MTR-A", 0, 10])
    assert [(o["kind"], o["by"]) for o in log] == [
        ("disconnect", world.operator.public_key),
        ("reconnect", b"contract:payments"),
    ]


def test_supply_activity_per_period(world):
    from tests.contracts.test_supply import FRI, alice_in_arrears

    alice_in_arrears(world)
    world.ok(world.operator, "supply", "send_reminders", [UTILITY, FIELD, "", 50], at=THU + 9 * HOUR)
    world.ok(world.operator, "supply", "request_disconnect", ["MTR-A", "unpaid"], at=FRI + 9 * HOUR)
    world.ok(world.operator, "supply", "request_reconnect", ["MTR-A", "paid at the office"])
    thu, fri = THU // 86400, FRI // 86400
    assert world.view("supply", "activity", [BRANCH, thu, thu]) == {"reminder": 1}
    assert world.view("supply", "activity", [FIELD, fri, fri]) == {"disconnect": 1, "reconnect": 1}
    assert world.view("supply", "activity", [UTILITY, 0, fri]) == {"reminder": 1, "disconnect": 1, "reconnect": 1}
    assert world.view("supply", "activity", ["ELEC/OTHER", 0, fri]) == {}
