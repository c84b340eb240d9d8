"""Named-actor scenarios for the registry contract: organisation, roles and meters.

Each behaviour has a ``test_invalid_*`` twin for the way it must fail. Subscriptions are in
``test_registry_subscriptions.py``.
"""

from __future__ import annotations

import pytest

from tests.contracts.conftest import FIELD, UTILITY, meter_args


def one(world, receipt, name, contract=None):
    found = world.events(receipt, name, contract)
    assert len(found) == 1, f"one {name} event expected, found {len(found)}"
    return found[0]


# --- utilities -------------------------------------------------------------------------


def test_governance_registers_utility_with_its_first_admin(world):
    water_admin = world.chain.actor("water-admin")
    r = world.ok(world.gov, "registry", "register_utility",
                 ["WATER", "City Water", "water", "TRY", "auto", water_admin.public_key])
    ev = one(world, r, "utility_registered")
    assert ev["utility"] == "WATER" and ev["by"] == world.gov.public_key and ev["at"] == world.chain.time
    grant = one(world, r, "role_granted")
    assert grant["account"] == water_admin.public_key and grant["role"] == "admin"
    u = world.view("registry", "utility", ["WATER"])
    assert u["commodity"] == "water" and u["unit"] == "l" and u["approval"] == "auto"
    assert world.view("registry", "has_role", [water_admin.public_key, "WATER", "admin"]) is True
    assert world.view("registry", "has_role", [world.admin.public_key, "WATER", "admin"]) is False


def test_invalid_admin_cannot_register_utility(world):
    err = world.fail(world.admin, "registry", "register_utility",
                     ["GAS", "Gas Co", "gas", "TRY", "auto", world.admin.public_key])
    assert "caller governance expected" in err
    assert world.view("registry", "utility", ["GAS"]) is None


def test_invalid_utility_with_unknown_commodity(world):
    err = world.fail(world.gov, "registry", "register_utility",
                     ["HEAT", "District Heat", "heat", "TRY", "auto", world.admin.public_key])
    assert "commodity electricity, water or gas expected, found 'heat'" in err


def test_invalid_utility_registered_twice(world):
    err = world.fail(world.gov, "registry", "register_utility",
                     [UTILITY, "Again", "electricity", "TRY", "auto", world.admin.public_key])
    assert "already registered" in err


def test_admin_sets_utility_policy(world):
    r = world.ok(world.admin, "registry", "set_utility_policy",
                 [UTILITY, {"approval": "auto", "identity_required": True,
                            "low_balance_threshold": 500}])
    assert one(world, r, "utility_policy_changed")["by"] == world.admin.public_key
    u = world.view("registry", "utility", [UTILITY])
    assert (u["approval"], u["identity_required"], u["low_balance_threshold"]) == ("auto", True, 500)


def test_invalid_operator_cannot_set_utility_policy(world):
    err = world.fail(world.operator, "registry", "set_utility_policy", [UTILITY, {"approval": "auto"}])
    assert "role admin of utility ELEC expected" in err
    err = world.fail(world.admin, "registry", "set_utility_policy", [UTILITY, {"approval": "never"}])
    assert "approval policy auto or operator expected" in err


# --- branches and fields ---------------------------------------------------------------


def test_admin_registers_branch(world):
    r = world.ok(world.admin, "registry", "register_branch", ["ELEC/USKUDAR", "Uskudar", "41.02,29.01"])
    ev = one(world, r, "branch_registered")
    assert ev["by"] == world.admin.public_key and ev["utility"] == UTILITY
    b = world.view("registry", "branch", ["ELEC/USKUDAR"])
    assert b["location"] == "41.02,29.01" and b["by"] == world.admin.public_key


def test_invalid_operator_cannot_register_branch(world):
    err = world.fail(world.operator, "registry", "register_branch", ["ELEC/USKUDAR", "Uskudar", ""])
    assert "role admin of utility ELEC expected" in err
    assert world.view("registry", "branch", ["ELEC/USKUDAR"]) is None


def test_invalid_branch_outside_a_utility(world):
    err = world.fail(world.admin, "registry", "register_branch", ["NOPE/X", "X", ""])
    assert "no utility 'NOPE'" in err
    err = world.fail(world.admin, "registry", "register_branch", ["ELEC", "X", ""])
    assert "branch id '<utility>/<branch>' expected" in err


def test_admin_registers_field(world):
    r = world.ok(world.admin, "registry", "register_field", ["ELEC/KADIKOY/F2", "Fenerbahce", "40.97,29.04"])
    assert one(world, r, "field_registered")["branch"] == world.branch
    f = world.view("registry", "field", ["ELEC/KADIKOY/F2"])
    assert f["utility"] == UTILITY and f["branch"] == world.branch and f["location"] == "40.97,29.04"


def test_organisation_is_listed(world):
    world.ok(world.admin, "registry", "register_branch", ["ELEC/USKUDAR", "Uskudar", ""])
    world.ok(world.admin, "registry", "register_field", ["ELEC/KADIKOY/F2", "Fenerbahce", ""])
    assert [b["id"] for b in world.view("registry", "branches", [UTILITY])] == [world.branch, "ELEC/USKUDAR"]
    assert [f["id"] for f in world.view("registry", "fields", [world.branch])] == [FIELD, "ELEC/KADIKOY/F2"]
    assert world.view("registry", "fields", ["ELEC/USKUDAR"]) == []


def test_invalid_field_in_unknown_branch(world):
    err = world.fail(world.admin, "registry", "register_field", ["ELEC/NOWHERE/F1", "x", ""])
    assert "no branch 'ELEC/NOWHERE'" in err


def test_invalid_operator_cannot_register_field(world):
    err = world.fail(world.operator, "registry", "register_field", ["ELEC/KADIKOY/F2", "x", ""])
    assert "role admin of utility ELEC expected" in err


# --- roles -----------------------------------------------------------------------------


def test_admin_grants_staff_roles(world):
    for name, role in [("operator", "operator"), ("agent", "agent"), ("vendor", "vendor"),
                       ("collector", "collector")]:
        actor = getattr(world, name)
        assert world.view("registry", "roles_of", [actor.public_key, UTILITY]) == [role]
    carol = world.chain.actor("carol-operator")
    r = world.ok(world.admin, "registry", "grant_role", [carol.public_key, UTILITY, "operator"])
    ev = one(world, r, "role_granted")
    assert ev["by"] == world.admin.public_key and ev["role"] == "operator"
    assert world.view("registry", "has_role", [carol.public_key, UTILITY, "operator"]) is True


def test_role_holders_are_listed(world):
    carol = world.chain.actor("carol-operator")
    world.ok(world.admin, "registry", "grant_role", [carol.public_key, UTILITY, "operator"])
    holders = world.view("registry", "role_holders", [UTILITY, "operator", b"", 100])
    assert sorted(holders) == sorted([world.operator.public_key, carol.public_key])
    first = world.view("registry", "role_holders", [UTILITY, "operator", b"", 1])
    rest = world.view("registry", "role_holders", [UTILITY, "operator", first[0], 10])
    assert first + rest == holders
    assert world.view("registry", "role_holders", [UTILITY, "admin", b"", 10]) == [world.admin.public_key]


def test_invalid_operator_cannot_grant_role(world):
    carol = world.chain.actor("carol")
    err = world.fail(world.operator, "registry", "grant_role", [carol.public_key, UTILITY, "agent"])
    assert "role admin of utility ELEC expected" in err
    assert world.view("registry", "has_role", [carol.public_key, UTILITY, "agent"]) is False


def test_invalid_admin_cannot_appoint_admin(world):
    carol = world.chain.actor("carol")
    err = world.fail(world.admin, "registry", "grant_role", [carol.public_key, UTILITY, "admin"])
    assert "caller governance (who appoints admins) expected" in err


def test_governance_appoints_second_admin(world):
    carol = world.chain.actor("carol")
    world.ok(world.gov, "registry", "grant_role", [carol.public_key, UTILITY, "admin"])
    world.ok(carol, "registry", "register_branch", ["ELEC/BESIKTAS", "Besiktas", ""])


def test_invalid_unknown_role_and_double_grant(world):
    err = world.fail(world.admin, "registry", "grant_role", [world.alice.public_key, UTILITY, "king"])
    assert "role among admin, operator, agent, vendor, collector expected" in err
    err = world.fail(world.admin, "registry", "grant_role", [world.operator.public_key, UTILITY, "operator"])
    assert "already granted" in err


def test_admin_revokes_role_and_it_stops_working(world):
    r = world.ok(world.admin, "registry", "revoke_role",
                 [world.operator.public_key, UTILITY, "operator", "left the company"])
    ev = one(world, r, "role_revoked")
    assert ev["reason"] == "left the company" and ev["by"] == world.admin.public_key
    world.register_meter("MTR-X", activate=False)
    err = world.fail(world.operator, "registry", "activate_meter", ["MTR-X"])
    assert "role operator or admin of utility ELEC expected" in err


def test_revoked_collector_no_longer_speaks_for_its_meters(world):
    assert world.view("registry", "meter", ["MTR-A"])["collector"] == world.collector.public_key
    world.ok(world.admin, "registry", "revoke_role",
             [world.collector.public_key, UTILITY, "collector", "contract ended"])
    m = world.view("registry", "meter", ["MTR-A"])
    assert m["collector"] == b"" and m["collector_revoked"] is True
    t = world.chain.time + 3600
    err = world.fail(world.collector, "billing", "submit_reading",
                     ["MTR-A", "1.8.0", t, 100, "collector", b"", b""], at=t)
    assert "the data collector of meter MTR-A expected" in err


def test_meter_for_reading_is_the_meter_and_its_subscription(world):
    # Billing reads both with one call per reading: the same records as the two views, and
    # None for what is missing. The collector's authority is read for a collector's reading.
    def both(meter_id):
        return [world.view("registry", "meter", [meter_id]), world.view("registry", "subscription", [meter_id])]

    for trust in ["collector", "meter", "consumer"]:
        assert world.view("registry", "meter_for_reading", ["MTR-A", trust]) == both("MTR-A")
    assert both("MTR-A")[1] is not None
    registered = world.view("registry", "meter", ["MTR-A"])["collector"]
    world.ok(world.admin, "registry", "revoke_role",
             [world.collector.public_key, UTILITY, "collector", "contract ended"])
    after = world.view("registry", "meter_for_reading", ["MTR-A", "collector"])
    assert after == both("MTR-A") and after[0]["collector"] == b"" and after[0]["collector_revoked"] is True
    # A reading of another trust does not depend on the collector: its authority is not read.
    unread = world.view("registry", "meter_for_reading", ["MTR-A", "meter"])[0]
    assert unread["collector"] == registered and "collector_revoked" not in unread
    assert world.view("registry", "meter_for_reading", ["NO-SUCH-METER", "meter"]) == [None, None]


def test_invalid_revoke_of_missing_role(world):
    err = world.fail(world.admin, "registry", "revoke_role", [world.alice.public_key, UTILITY, "agent", "x"])
    assert "with role agent expected, found no such grant" in err


def test_invalid_operator_cannot_revoke_role(world):
    err = world.fail(world.operator, "registry", "revoke_role", [world.agent.public_key, UTILITY, "agent", "x"])
    assert "role admin of utility ELEC expected" in err


def test_invalid_init_twice(world):
    for contract in ("registry", "supply"):
        err = world.fail(world.gov, contract, "init", [])
        assert f"{contract}: first init expected, found it already initialised" in err
    assert world.view("registry", "governance", []) == world.gov.public_key


def test_governance_has_every_role(world):
    for role in ["admin", "operator", "agent", "vendor", "collector"]:
        assert world.view("registry", "has_role", [world.gov.public_key, UTILITY, role]) is True
    assert world.view("registry", "has_role", [world.alice.public_key, UTILITY, "operator"]) is False


# --- meters ----------------------------------------------------------------------------


def test_admin_registers_meter(world):
    key = world.chain.actor("smart-meter-7").public_key
    r = world.ok(world.admin, "registry", "register_meter",
                 meter_args("MTR-7", FIELD, "Moda Cd. 7", multiplier=40, digits=8, max_rate=500_000,
                            initial_index=1234, public_key=key, collector=world.collector.public_key))
    ev = one(world, r, "meter_registered")
    assert ev["by"] == world.admin.public_key and ev["at"] == world.chain.time
    m = world.view("registry", "meter", ["MTR-7"])
    assert m == {
        "id": "MTR-7", "utility": UTILITY, "branch": world.branch, "field": FIELD,
        "commodity": "electricity", "unit": "Wh", "multiplier": 40, "digits": 8,
        "max_rate": 500_000, "public_key": key, "collector": world.collector.public_key,
        "premises": "Moda Cd. 7", "status": "registered", "initial_index": 1234,
        "installed_at": world.chain.time, "replaces": "", "replaced_by": "", "final_index": None,
        "by": world.admin.public_key, "at": world.chain.time,
    }


def test_invalid_operator_cannot_register_meter(world):
    err = world.fail(world.operator, "registry", "register_meter", meter_args("MTR-9", FIELD, "p"))
    assert "role admin of utility ELEC expected" in err
    assert world.view("registry", "meter", ["MTR-9"]) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"digits": 0}, "register digits: 1 to 12 expected, found 0"),
        ({"digits": 13}, "register digits: 1 to 12 expected, found 13"),
        ({"multiplier": 0}, "multiplier: 1 to 1000000 expected, found 0"),
        ({"max_rate": 0}, "max_rate: 1 to"),
        ({"digits": 4, "initial_index": 10_000}, "initial index: 0 to 9999 expected, found 10000"),
        ({"public_key": b"\x01" * 31}, "meter public key: empty or 32 bytes expected, found 31 bytes"),
    ],
)
def test_invalid_meter_parameters(world, changes, message):
    params = {"multiplier": 1, "digits": 6, "max_rate": 20_000, "initial_index": 0, "public_key": b""}
    params.update(changes)
    err = world.fail(world.admin, "registry", "register_meter", meter_args("MTR-9", FIELD, "p", **params))
    assert message in err


def test_invalid_meter_collector_without_role(world):
    err = world.fail(world.admin, "registry", "register_meter",
                     meter_args("MTR-9", FIELD, "p", collector=world.alice.public_key))
    assert "an account with role collector expected" in err


def test_invalid_meter_registered_twice(world):
    err = world.fail(world.admin, "registry", "register_meter", meter_args("MTR-A", FIELD, "p"))
    assert "meter 'MTR-A' already registered" in err


def test_invalid_meter_in_unknown_field(world):
    err = world.fail(world.admin, "registry", "register_meter", meter_args("MTR-9", "ELEC/KADIKOY/F9", "p"))
    assert "no field 'ELEC/KADIKOY/F9'" in err


def test_operator_activates_meter(world):
    world.register_meter("MTR-9", activate=False)
    r = world.ok(world.operator, "registry", "activate_meter", ["MTR-9"])
    assert one(world, r, "meter_activated")["by"] == world.operator.public_key
    m = world.view("registry", "meter", ["MTR-9"])
    assert m["status"] == "active" and m["by"] == world.operator.public_key


def test_invalid_consumer_cannot_activate_meter(world):
    world.register_meter("MTR-9", activate=False)
    err = world.fail(world.alice, "registry", "activate_meter", ["MTR-9"])
    assert "role operator or admin of utility ELEC expected" in err
    err = world.fail(world.operator, "registry", "activate_meter", ["MTR-A"])
    assert "registered or inactive expected, found active" in err


def test_operator_deactivates_free_meter(world):
    world.register_meter("MTR-9")
    r = world.ok(world.operator, "registry", "deactivate_meter", ["MTR-9", "premises demolished"])
    assert one(world, r, "meter_deactivated")["reason"] == "premises demolished"
    assert world.view("registry", "meter", ["MTR-9"])["status"] == "inactive"
    err = world.fail(world.chain.actor("dave"), "registry", "subscribe", ["MTR-9", "postpaid", b""])
    assert "meter MTR-9 active expected, found inactive" in err


def test_invalid_deactivate_meter_with_active_subscription(world):
    err = world.fail(world.operator, "registry", "deactivate_meter", ["MTR-A", "x"])
    assert "without an open subscription expected, found one active" in err


def test_admin_updates_meter_key_and_collector(world):
    key = world.chain.actor("new-key").public_key
    r = world.ok(world.admin, "registry", "update_meter", ["MTR-A", {"public_key": key, "collector": b""}])
    assert one(world, r, "meter_updated")["by"] == world.admin.public_key
    m = world.view("registry", "meter", ["MTR-A"])
    assert m["public_key"] == key and m["collector"] == b""


def test_invalid_update_meter(world):
    err = world.fail(world.operator, "registry", "update_meter", ["MTR-A", {"max_rate": 5}])
    assert "role admin of utility ELEC expected" in err
    err = world.fail(world.admin, "registry", "update_meter", ["MTR-A", {"digits": 5}])
    assert "change of public_key, collector or max_rate expected, found 'digits'" in err


def test_operator_replaces_meter(world):
    world.flat_tariff("MTR-A")
    alice_sub = world.view("registry", "subscription", ["MTR-A"])
    r = world.ok(world.operator, "registry", "replace_meter",
                 ["MTR-A", "MTR-A2", 1, 8, 20_000, b"", world.collector.public_key, 0, 17])
    ev = one(world, r, "meter_replaced", "registry")
    assert (ev["old"], ev["new"], ev["old_final_index"], ev["new_initial_index"]) == ("MTR-A", "MTR-A2", 0, 17)
    assert ev["subscription"] == alice_sub["id"] and ev["by"] == world.operator.public_key
    old = world.view("registry", "meter", ["MTR-A"])
    new = world.view("registry", "meter", ["MTR-A2"])
    assert (old["status"], old["replaced_by"], old["final_index"]) == ("replaced", "MTR-A2", 0)
    assert (new["status"], new["replaces"], new["initial_index"], new["digits"]) == ("active", "MTR-A", 17, 8)
    assert new["premises"] == old["premises"] and new["field"] == old["field"]
    # The subscription moved with its id: alice keeps her account and history.
    assert world.view("registry", "subscription", ["MTR-A"]) is None
    moved = world.view("registry", "subscription", ["MTR-A2"])
    assert moved["id"] == alice_sub["id"] and moved["consumer"] == world.alice.public_key
    assert world.view("registry", "subscriptions_of", [world.alice.public_key]) == ["MTR-A2"]


def test_invalid_replace_meter(world):
    args = ["MTR-A", "MTR-B", 1, 6, 20_000, b"", b"", 0, 0]
    err = world.fail(world.operator, "registry", "replace_meter", args)
    assert "meter 'MTR-B' already registered" in err
    args[1] = "MTR-A2"
    err = world.fail(world.alice, "registry", "replace_meter", args)
    assert "role operator or admin of utility ELEC expected" in err
    args[7] = 1_000_000
    err = world.fail(world.operator, "registry", "replace_meter", args)
    assert "old meter final index: 0 to 999999 expected, found 1000000" in err


def test_meters_in_scope_with_paging(world):
    world.ok(world.admin, "registry", "register_field", ["ELEC/KADIKOY/F2", "Fenerbahce", ""])
    world.register_meter("MTR-C", field_id="ELEC/KADIKOY/F2", activate=False)
    assert world.view("registry", "meters_in", [FIELD, "", 100]) == ["MTR-A", "MTR-B"]
    assert world.view("registry", "meters_in", ["ELEC/KADIKOY/F2", "", 100]) == ["MTR-C"]
    assert world.view("registry", "meters_in", [UTILITY, "", 100]) == ["MTR-A", "MTR-B", "MTR-C"]
    assert world.view("registry", "meters_in", [UTILITY, "", 1]) == ["MTR-A"]
    assert world.view("registry", "meters_in", [UTILITY, "MTR-A", 100]) == ["MTR-B", "MTR-C"]


def test_invalid_meters_in_unknown_scope(world):
    from node.localchain import ViewError

    with pytest.raises(ViewError, match="a registered utility, branch or field id expected"):
        world.view("registry", "meters_in", ["ELEC/NOWHERE", "", 10])
