"""Operator figures of prepaid and token-meter sales (issue 12): what vendors sold, by
utility, branch and field and by day, in the payments contract's ``activity`` view (the
day counters of common/activity.py), net of same-day reversals; token sales with the energy
they bought and their reissues. Named scenarios with their ``test_invalid_*`` twin.
"""

from __future__ import annotations

from typing import Any

from tests.contracts.test_prepaid import T0, buy, setup_prepaid
from tests.contracts.test_token_sales import TIERED

DAY = 86400


def figures(world: Any, scope: str, day: int) -> dict[str, int]:
    return dict(world.view("payments", "activity", [scope, day, day]))


def test_basic_prepaid_and_token_sales_by_scope_and_day(world: Any) -> None:
    setup_prepaid(world, float_amount=1_000_000)
    tara = world.new_consumer("tara", "token")
    assert tara is not None
    world.ok(world.admin, "billing", "set_tariff", [world.utility, "TIERED", TIERED, world.chain.time + 1])
    world.ok(world.operator, "billing", "assign_tariff", [world.meters["tara"], "TIERED"])
    buy(world, 2_000, "V-1", at=T0)
    wrong = buy(world, 500, "V-2", at=T0 + 10)
    world.ok(world.vendor, "payments", "reverse_purchase", [wrong["id"], "wrong amount"], at=T0 + 20)
    r = world.ok(world.vendor, "payments", "sell_token", [world.meters["tara"], 11_800, "T-1"], at=T0 + 30)
    (sale,) = world.chain.events(r, "token_sale")
    world.ok(world.operator, "payments", "reissue_token", [sale["id"], "lost"], at=T0 + 40)
    buy(world, 700, "V-3", at=T0 + DAY)  # the next day
    day = T0 // DAY
    expected = {"prepaid_sold": 2_000, "prepaid_sales": 2, "prepaid_sales_reversed": 1,
                "token_sold": 11_800, "token_sales": 1, "token_units": sale["units"], "token_reissues": 1}
    for scope in (world.utility, world.branch, world.field):
        assert figures(world, scope, day) == expected
    assert figures(world, world.utility, day + 1) == {"prepaid_sold": 700, "prepaid_sales": 1}
    assert world.view("payments", "activity", [world.utility, day, day + 1])["prepaid_sold"] == 2_700
    assert figures(world, world.utility, day - 1) == {}


def test_invalid_refused_sales_and_reversals_add_nothing(world: Any) -> None:
    setup_prepaid(world, float_amount=1_000)
    world.fail(world.vendor, "payments", "buy_credit", [world.meters["bob"], 5_000, "V-1"], at=T0)  # float short
    world.fail(world.agent, "payments", "buy_credit", [world.meters["bob"], 500, "V-2"], at=T0 + 10)  # no vendor
    sold = buy(world, 600, "V-3", at=T0 + 20)
    world.fail(world.vendor, "payments", "reverse_purchase", [sold["id"], "late"], at=T0 + DAY)  # next day
    assert figures(world, world.utility, T0 // DAY) == {"prepaid_sold": 600, "prepaid_sales": 1}
    assert figures(world, world.utility, T0 // DAY + 1) == {}
