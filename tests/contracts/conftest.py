"""Shared fixtures for the contract tests: a small utility world on a local chain.

``world`` is a fresh chain (genesis on 2025-01-01T00:00Z, the four contracts deployed and
initialised) with one electricity utility "ELEC", its staff, one branch and one field, and
two consumers whose meters are active and whose subscriptions are approved:

- ``world.alice`` — postpaid, meter ``world.meters["alice"] == "MTR-A"``
- ``world.bob`` — prepaid, meter ``world.meters["bob"] == "MTR-B"``

Meters have 6 register digits, multiplier 1, max_rate 20,000 Wh/h, initial index 0 and the
world's collector as their data collector. No tariff is assigned here: tariffs belong to
billing (see the billing tests' own fixtures).

Helpers: ``world.ok(actor, contract, function, args)`` runs one transaction in one block
and asserts it succeeded (returns the receipt); ``world.fail(...)`` asserts it failed and
returns the error text; ``world.new_consumer(name, mode)`` registers, activates and
subscribes one more consumer with meter ``MTR-<NAME>``.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from node.localchain import LocalChain

GENESIS_TIME = 1735689600  # 2025-01-01T00:00:00Z, a Wednesday
UTILITY = "ELEC"
BRANCH = "ELEC/KADIKOY"
FIELD = "ELEC/KADIKOY/F1"
DIGITS = 6
MULTIPLIER = 1
MAX_RATE = 20_000  # Wh per hour: a 20 kW household connection


@dataclasses.dataclass
class World:
    chain: Any
    gov: Any
    admin: Any
    operator: Any
    agent: Any
    vendor: Any
    collector: Any
    alice: Any
    bob: Any
    utility: str = UTILITY
    branch: str = BRANCH
    field: str = FIELD
    meters: dict[str, str] = dataclasses.field(default_factory=dict)
    consumers: dict[str, Any] = dataclasses.field(default_factory=dict)

    # --- transaction helpers -------------------------------------------------------

    def ok(self, actor: Any, contract: str, function: str, args: list[Any], at: int | None = None) -> Any:
        """Run one call in one block; assert it succeeded; return the receipt."""
        receipt = self.chain.call(actor, contract, function, args, at=at)
        assert receipt.ok, f"{contract}.{function}{args!r} failed: {receipt.error}"
        return receipt

    def fail(self, actor: Any, contract: str, function: str, args: list[Any], at: int | None = None) -> str:
        """Run one call in one block; assert it failed; return the error text."""
        receipt = self.chain.call(actor, contract, function, args, at=at)
        assert not receipt.ok, f"{contract}.{function}{args!r} succeeded but was expected to fail"
        return str(receipt.error)

    def view(self, contract: str, function: str, args: list[Any]) -> Any:
        return self.chain.view(contract, function, args)

    def events(self, receipt: Any, name: str, contract: str | None = None) -> list[dict[Any, Any]]:
        """Field maps of the receipt's events called ``name`` (from ``contract`` if given)."""
        return [
            e.field_map()
            for e in receipt.events
            if e.name == name and (contract is None or e.contract == contract)
        ]

    def flat_tariff(self, meter: str, price_micro: int = 250_000) -> None:
        """Assign tariff "FLAT" (created on first use: ``price_micro`` per base unit, no
        standing charge, no tax; 250,000 = 2.50 TRY/kWh) to ``meter``."""
        if self.view("billing", "tariff", [self.utility, "FLAT"]) is None:
            spec = {"standing_charge_per_day": 0, "tiers": [[None, price_micro]], "tax_bp": 0}
            self.ok(self.admin, "billing", "set_tariff", [self.utility, "FLAT", spec, self.chain.time + 1])
        self.ok(self.operator, "billing", "assign_tariff", [meter, "FLAT"])

    # --- building the world --------------------------------------------------------

    def register_meter(
        self,
        meter_id: str,
        *,
        field_id: str | None = None,
        premises: str | None = None,
        multiplier: int = MULTIPLIER,
        digits: int = DIGITS,
        max_rate: int = MAX_RATE,
        initial_index: int = 0,
        public_key: bytes = b"",
        activate: bool = True,
    ) -> str:
        """Register (and by default activate) a meter in the world's field."""
        self.ok(
            self.admin,
            "registry",
            "register_meter",
            meter_args(
                meter_id,
                field_id or self.field,
                premises or f"premises of {meter_id}",
                multiplier=multiplier,
                digits=digits,
                max_rate=max_rate,
                initial_index=initial_index,
                public_key=public_key,
                collector=self.collector.public_key,
            ),
        )
        if activate:
            self.ok(self.operator, "registry", "activate_meter", [meter_id])
        return meter_id

    def new_consumer(
        self,
        name: str,
        mode: str = "postpaid",
        *,
        meter_id: str | None = None,
        field_id: str | None = None,
        public_key: bytes = b"",
    ) -> Any:
        """A new consumer with an active meter and an approved subscription."""
        actor = self.chain.actor(name)
        meter = meter_id or f"MTR-{name.upper()}"
        self.register_meter(meter, field_id=field_id, public_key=public_key)
        self.ok(actor, "registry", "subscribe", [meter, mode, b""])
        sub = self.view("registry", "subscription", [meter])
        if sub["status"] == "pending":
            self.ok(self.operator, "registry", "approve_subscription", [meter])
        self.meters[name] = meter
        self.consumers[name] = actor
        return actor


def meter_args(
    meter_id: str,
    field_id: str,
    premises: str,
    *,
    multiplier: int = MULTIPLIER,
    digits: int = DIGITS,
    max_rate: int = MAX_RATE,
    initial_index: int = 0,
    public_key: bytes = b"",
    collector: bytes = b"",
) -> list[Any]:
    """The argument list of ``registry.register_meter`` in its declared order."""
    return [
        meter_id,
        field_id,
        premises,
        multiplier,
        digits,
        max_rate,
        initial_index,
        public_key,
        collector,
    ]


def _all_ok(receipts: Any) -> None:
    for receipt in receipts:
        assert receipt.ok, f"world setup failed: {receipt.error}"


def build_world(approval: str = "operator") -> World:
    """The standard world; ``approval`` is the utility's subscription approval policy."""
    chain = LocalChain.genesis(time=GENESIS_TIME)
    gov = chain.governance
    w = World(
        chain=chain,
        gov=gov,
        admin=chain.actor("elec-admin"),
        operator=chain.actor("elec-operator"),
        agent=chain.actor("elec-agent"),
        vendor=chain.actor("elec-vendor"),
        collector=chain.actor("elec-collector"),
        alice=chain.actor("alice"),
        bob=chain.actor("bob"),
    )
    w.ok(gov, "registry", "register_utility",
         [UTILITY, "Demo Electric", "electricity", "TRY", approval, w.admin.public_key])
    _all_ok(chain.block([
        (w.admin, "registry", "register_branch", [BRANCH, "Kadikoy", "40.9900,29.0300"]),
        (w.admin, "registry", "register_field", [FIELD, "Moda", "40.9830,29.0250"]),
        (w.admin, "registry", "grant_role", [w.operator.public_key, UTILITY, "operator"]),
        (w.admin, "registry", "grant_role", [w.agent.public_key, UTILITY, "agent"]),
        (w.admin, "registry", "grant_role", [w.vendor.public_key, UTILITY, "vendor"]),
        (w.admin, "registry", "grant_role", [w.collector.public_key, UTILITY, "collector"]),
    ]))
    w.meters = {"alice": "MTR-A", "bob": "MTR-B"}
    w.consumers = {"alice": w.alice, "bob": w.bob}
    _all_ok(chain.block([
        (w.admin, "registry", "register_meter",
         meter_args("MTR-A", FIELD, "Moda Cd. 1", collector=w.collector.public_key)),
        (w.admin, "registry", "register_meter",
         meter_args("MTR-B", FIELD, "Moda Cd. 2", collector=w.collector.public_key)),
    ]))
    _all_ok(chain.block([
        (w.operator, "registry", "activate_meter", ["MTR-A"]),
        (w.operator, "registry", "activate_meter", ["MTR-B"]),
    ]))
    _all_ok(chain.block([
        (w.alice, "registry", "subscribe", ["MTR-A", "postpaid", b""]),
        (w.bob, "registry", "subscribe", ["MTR-B", "prepaid", b""]),
    ]))
    if approval == "operator":
        _all_ok(chain.block([
            (w.operator, "registry", "approve_subscription", ["MTR-A"]),
            (w.operator, "registry", "approve_subscription", ["MTR-B"]),
        ]))
    return w


_TEMPLATES: dict[str, World] = {}


def fresh_world(approval: str = "operator") -> World:
    """A private copy of the standard world: built once per process and approval policy,
    then deep-copied (about 1 ms against 0.6 s for the twelve setup blocks). The copy shares
    nothing with the template: its chain, state and backend are its own."""
    template = _TEMPLATES.get(approval)
    if template is None:
        template = build_world(approval)
        _TEMPLATES[approval] = template
    return copy.deepcopy(template)


@pytest.fixture
def world() -> World:
    """A fresh standard world (operator-approved subscriptions, all active)."""
    return fresh_world()


@pytest.fixture
def make_world() -> Any:
    """A factory for variants: ``make_world(approval="auto")``."""
    return fresh_world
