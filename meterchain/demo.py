"""The local demonstration: simulated meters billed by the contracts through ``apply_block``.

Until the node network exists this is meterchain's main job (`make devnet`): an electricity
utility with its staff, a tariff with a price change, and households whose simulated meters
emit real DSMR 5 P1 telegrams (CRC16 and all). Each day every household's wallet parses its
telegram with the DSMR adapter and submits the signed reading; smart meters sign their own.
Every block goes through the real transition, VM and contracts: invoices at each month's
end, payments by an agent, prepaid credit sold by a vendor and drawn down reading by
reading, low-balance warnings, and disconnection only after the contracts' real-time
arrears check and consumer protections. One more household has an STS keypad meter that
holds its own credit: a vendor sells it a token on chain, the vending service issues the
20-digit token, and the meter's decoder key decodes it (a reissue gives the same digits).
Bad input is shown being rejected with its reason.
"""

from __future__ import annotations

import time as clock
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from chain.hashing import EMPTY_HASH, Domain, Hash32, hash_domain
from chain.transition import get_nonce
from chain.types import Height, Nonce, Receipt, Timestamp, Transaction
from meter_adapters.dsmr import parse_dsmr
from meter_adapters.reading import Reading
from meter_adapters.registers import register_reading
from meter_adapters.signed_reading import meter_public_key, sign_reading
from meter_adapters.simulator import MeterState, advance, dsmr_telegram
from meter_adapters.sts.dkga02 import KeyParameters, MeterPan
from meter_adapters.sts.tid import BaseDate, issued_at
from meter_adapters.sts.token import decode_verified
from node.localchain import Actor, LocalChain
from utility_services.sts_vending import Meter, Vendor
from utility_services.token_sales import issue_from_chain
from wallet.reading_transactions import TxParams, reading_transaction

UTILITY = "ELEC"
BRANCH = "ELEC/CENTRE"
FIELD = "ELEC/CENTRE/F1"
TARIFF = "RES"
START = 1_735_689_600  # 2025-01-01T00:00:00Z
TOTAL_IMPORT = "1-0:1.8.0"  # the wallet bills import total = tariff 1 + tariff 2 registers
DAY = 86_400

READ_AT = 9 * 3600  # households read their meters at 09:00 UTC
# Prices in micro-cents per Wh: 0.22 EUR/kWh = 22 cents/kWh = 22,000 micro-cents/Wh.
# 0.22 per kWh for the first 8 kWh a day, 0.30 above; 0.35 per day standing charge; 20 % tax.
TARIFF_V1 = {"standing_charge_per_day": 35, "tiers": [[8_000, 22_000], [None, 30_000]], "tax_bp": 2_000}
# Announced at genesis, in force from 1 February: dearer first block.
TARIFF_V2 = {"standing_charge_per_day": 35, "tiers": [[8_000, 24_000], [None, 30_000]], "tax_bp": 2_000}
# The keypad (STS) meter: its id on chain, its key parameters at the vending service (the
# worked example of docs/sts.md: supply group 123456, tariff index 01, key revision 1, on
# base date 2014), the demonstration's vending key, and the first sale.
KEYPAD_METER = "STS-600727000000000009"
KEYPAD_STS = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)
DEMO_VENDING_KEY = bytes.fromhex("abababababababab")
TOKEN_SALE = 2_000  # 20.00 EUR


def submission(reading: Reading, params: TxParams, meter_seed: bytes | None = None) -> Transaction:
    """The wallet's reading transaction; a smart meter (with ``meter_seed``) signs its reading
    first, as its firmware would, and the transaction then carries trust "meter"."""
    assert reading.timestamp is not None  # the simulated DSMR meter always gives its time
    if meter_seed is None:
        return reading_transaction(
            params, reading.meter, reading.register, reading.timestamp, reading.value,
            reading.raw_hash,
        )
    signed = sign_reading(
        meter_seed, reading.meter, reading.register, reading.value, reading.unit, reading.timestamp
    )
    return reading_transaction(
        params, reading.meter, reading.register, reading.timestamp, reading.value,
        reading.raw_hash, trust="meter", meter_signature=signed.signature,
    )


@dataclass
class Household:
    consumer: Actor
    mode: str  # "postpaid" or "prepaid"
    meter: MeterState
    meter_id: str = ""
    meter_seed: bytes | None = None  # a smart meter holding its own Ed25519 key
    pays_bills: bool = True


Call = tuple[Actor, str, str, list[Any]]  # (signer, contract, function, args)


@dataclass(frozen=True, slots=True)
class Staff:
    """The utility's accounts: its admin and the roles the admin grants."""

    admin: Actor
    operator: Actor
    agent: Actor
    vendor: Actor
    collector: Actor

    @classmethod
    def named(cls) -> Staff:
        return cls(*(Actor.named(f"elec-{role}") for role in ("admin", "operator", "agent", "vendor", "collector")))


def make_household(i: int, meter_time: int = START) -> Household:
    """Household ``i`` (from 0): every fourth is prepaid, every third meter is a smart meter
    with a key, the second never pays its bills unprompted."""
    mode = "prepaid" if i % 4 == 3 else "postpaid"
    serial = f"SIM{i + 1:013d}"
    state = MeterState(serial=serial, gas_serial=f"SIMGAS{i + 1:010d}", time=meter_time, seed=i + 1)
    seed = None
    if i % 3 == 2:
        seed = Actor.named(f"meter-key-{serial}").seed
    return Household(Actor.named(f"household-{i + 1}"), mode, state, meter_seed=seed, pays_bills=i != 1)


def total_import(telegram: bytes) -> Reading:
    """The billed register: import total = tariff 1 + tariff 2 (DSMR has no 1.8.0)."""
    return register_reading(parse_dsmr(telegram), TOTAL_IMPORT)


def household_reading(home: Household, params: TxParams) -> tuple[Transaction, int]:
    """The wallet's reading transaction from the meter's current P1 telegram (parsed by the
    DSMR adapter), and the telegram's size in bytes."""
    telegram = dsmr_telegram(home.meter)
    return submission(total_import(telegram), params, home.meter_seed), len(telegram)


def setup_steps(
    governance: Actor,
    staff: Staff,
    homes: list[Household],
    now: Callable[[], int],
    lead: int = 1,
    price_change: int = START + 31 * DAY,
) -> Iterator[list[Call]]:
    """The utility's set-up, one block of calls at a time: each step needs the previous one
    final (``now`` is the chain's time when a step is built). The tariff is in force from
    ``lead`` seconds after that (it must not be earlier than the block that sets it), and
    dearer from ``price_change``. Registering the meters reads each one's first telegram to
    learn its id and opening index (``meter_id`` is set)."""
    a = staff.admin
    yield [(governance, "registry", "register_utility",
            [UTILITY, "Demo Electric", "electricity", "EUR", "auto", a.public_key])]
    yield [
        (a, "registry", "register_branch", [BRANCH, "Centre", "52.3700,4.8900"]),
        (a, "registry", "register_field", [FIELD, "Old town", "52.3730,4.8930"]),
        (a, "registry", "grant_role", [staff.operator.public_key, UTILITY, "operator"]),
        (a, "registry", "grant_role", [staff.agent.public_key, UTILITY, "agent"]),
        (a, "registry", "grant_role", [staff.vendor.public_key, UTILITY, "vendor"]),
        (a, "registry", "grant_role", [staff.collector.public_key, UTILITY, "collector"]),
        (a, "billing", "set_tariff", [UTILITY, TARIFF, TARIFF_V1, now() + lead]),
        (a, "billing", "set_tariff", [UTILITY, TARIFF, TARIFF_V2, price_change]),
        (a, "payments", "set_policy", [UTILITY, {"commission_bp": 150, "emergency_credit": 300}]),
        (a, "payments", "register_vendor_float", [UTILITY, staff.vendor.public_key, 1_000_000]),
    ]
    calls: list[Call] = []
    for home in homes:
        first = total_import(dsmr_telegram(home.meter))
        home.meter_id = first.meter
        public_key = meter_public_key(home.meter_seed) if home.meter_seed else b""
        calls.append((a, "registry", "register_meter",
                      [home.meter_id, FIELD, f"Old town {len(calls) + 1}", 1, 9, 20_000,
                       first.value, public_key, staff.collector.public_key]))
    yield calls
    yield ([(staff.operator, "registry", "activate_meter", [h.meter_id]) for h in homes]
           + [(a, "billing", "assign_tariff", [h.meter_id, TARIFF]) for h in homes])
    # Consumers subscribe from their wallets: no paperwork, approval "auto".
    yield [(h.consumer, "registry", "subscribe", [h.meter_id, h.mode, b""]) for h in homes]


def first_credit(staff: Staff, homes: list[Household]) -> list[Call]:
    """Prepaid households buy their first credit from the vendor."""
    return [(staff.vendor, "payments", "buy_credit", [h.meter_id, 1_500, f"sale-{h.meter_id}-0"])
            for h in homes if h.mode == "prepaid"]


@dataclass
class DemoSummary:
    households: int
    days: int
    smart_meters: int = 0
    blocks: int = 0
    transactions: int = 0
    failed: int = 0
    readings: int = 0
    meter_signed: int = 0
    telegram_bytes: int = 0
    invoices: int = 0
    invoiced_total: int = 0
    payments: int = 0
    paid_total: int = 0
    purchases: int = 0
    purchased_total: int = 0
    token_sales: int = 0
    token: str = ""  # the token the vending service issued for the keypad meter
    token_lines: list[str] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)
    state_root: Hash32 = EMPTY_HASH
    height: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:

        def money(minor: int) -> str:
            return f"{minor // 100:,}.{minor % 100:02d} EUR"

        ev = self.events
        return [
            f"households (meters)      {self.households} ({self.smart_meters} smart meters sign their own readings)",
            f"simulated days           {self.days}",
            f"blocks / transactions    {self.blocks} / {self.transactions} ({self.failed} failed, as intended below)",
            f"readings accepted        {self.readings} from {self.telegram_bytes:,} bytes of DSMR P1 telegrams"
            f" ({self.meter_signed} meter-signed)",
            f"invoices                 {self.invoices}, total {money(self.invoiced_total)}",
            f"payments by agent        {self.payments}, total {money(self.paid_total)}",
            f"prepaid purchases        {self.purchases}, total {money(self.purchased_total)}",
            f"low-balance warnings     {ev['low_balance']}",
            f"disconnect orders        {ev['disconnect_order']} (deferred by consumer protection: {ev['disconnect_deferred']})",
            f"reconnect orders         {ev['reconnect_order']}",
            f"credit notes             {ev['credit_note']}",
            f"payment plans            {ev['payment_plan_opened']} opened, {ev['payment_plan_missed']} missed",
            f"token-meter sales        {self.token_sales}",
            *[f"  {line}" for line in self.token_lines],
            f"reading anomalies        {ev['anomaly']}",
            *[f"rejected on purpose      {reason}" for reason in self.rejections],
            f"final height / root      {self.height} / {self.state_root.hex()}",
            f"wall time                {self.seconds:.1f} s ({self.transactions / max(self.seconds, 1e-9):,.0f} tx/s through apply_block)",
        ]


class Demo:
    """Drives one ``LocalChain`` through the scenario; every step is a real transaction."""

    def __init__(self, households: int, days: int, say: Callable[[str], None]) -> None:
        self.chain = LocalChain.genesis(time=START, chain_id="meterchain-devnet")
        self.say = say
        self.days = days
        self.summary = DemoSummary(households, days)
        self.staff = Staff.named()
        self.admin, self.operator = self.staff.admin, self.staff.operator
        self.agent, self.vendor, self.collector = self.staff.agent, self.staff.vendor, self.staff.collector
        self.homes = [make_household(i) for i in range(households)]
        self.summary.smart_meters = sum(h.meter_seed is not None for h in self.homes)

    # --- plumbing ----------------------------------------------------------------------

    def _record(self, receipts: tuple[Receipt, ...]) -> tuple[Receipt, ...]:
        self.summary.blocks += 1
        self.summary.transactions += len(receipts)
        for r in receipts:
            if not r.ok:
                self.summary.failed += 1
            for e in r.events:
                self.summary.events[e.name] += 1
                if e.name in ("disconnect_order", "reconnect_order"):
                    order = e.field_map()
                    self.say(f"{e.name.replace('_', ' ')} for {order['meter']}: {order.get('reason', '')}")
        return receipts

    def block(self, calls: list[tuple[Actor, str, str, list[Any]]], at: int | None = None) -> tuple[Receipt, ...]:
        receipts = self._record(self.chain.block(calls, at))
        for (_, contract, function, _), r in zip(calls, receipts, strict=True):
            if not r.ok:
                raise RuntimeError(f"demo step {contract}.{function} failed: {r.error}")
        return receipts

    # --- the scenario ------------------------------------------------------------------

    def set_up(self) -> None:
        for step in setup_steps(self.chain.governance, self.staff, self.homes, lambda: self.chain.time):
            self.block(step)
        self.say(f"set up: utility {UTILITY}, {len(self.homes)} meters, tariff {TARIFF} (price change on 1 Feb)")
        buys = first_credit(self.staff, self.homes)
        if buys:
            self._count_purchases(self.block(buys), [b[3][1] for b in buys])
        self.sell_token()

    def _count_purchases(self, receipts: tuple[Receipt, ...], amounts: list[int]) -> None:
        self.summary.purchases += len(receipts)
        self.summary.purchased_total += sum(amounts)

    def sell_token(self) -> None:
        """A household with a keypad meter that holds its own credit: the vendor sells it a
        token on chain, the vending service issues the 20-digit token from the sale's request
        and the meter's key decodes it; the token is lost and reissued: the same digits."""
        keypad = Actor.named("household-keypad")
        a = self.admin
        self.block([(a, "registry", "register_meter",
                     [KEYPAD_METER, FIELD, "Old town keypad", 1, 7, 20_000, 0, b"", self.collector.public_key])])
        self.block([(self.operator, "registry", "activate_meter", [KEYPAD_METER]),
                    (a, "billing", "assign_tariff", [KEYPAD_METER, TARIFF])])
        self.block([(keypad, "registry", "subscribe", [KEYPAD_METER, "token", b""])])
        (receipt,) = self.block([(self.vendor, "payments", "sell_token", [KEYPAD_METER, TOKEN_SALE, "keypad-1"])],
                                self.chain.time + 3600)
        (event,) = self.chain.events(receipt, "token_sale")
        sale = self.chain.view("payments", "token_sale", [event["id"]])
        vendor = Vendor(DEMO_VENDING_KEY)
        issued = issue_from_chain(vendor, {KEYPAD_METER: KEYPAD_STS}, self.chain.view, sale["id"])
        data = decode_verified(issued.token, vendor.decoder_key(KEYPAD_STS))
        self.block([(keypad, "payments", "reissue_token", [sale["id"], "receipt lost"])])
        again = issue_from_chain(vendor, {KEYPAD_METER: KEYPAD_STS}, self.chain.view, sale["id"])
        # The keypad meter is still read, for consumption figures: recorded, never drawn down.
        read_at = self.chain.time + 3600
        (reading,) = self.block([(keypad, "billing", "submit_reading",
                                  [KEYPAD_METER, TOTAL_IMPORT, read_at, 4_000, "consumer", b"", b""])], read_at)
        drawn = [e.name for e in reading.events if e.name in ("prepaid_charge", "credit_deducted")]
        digits = " ".join(issued.token[i:i + 4] for i in range(0, 20, 4))
        s = self.summary
        s.token_sales += 1
        s.token = issued.token
        s.token_lines += [
            f"{sale['id']} for {KEYPAD_METER}: {money_text(sale['amount'])} = tax {money_text(sale['tax'])}"
            f" + standing charge {money_text(sale['standing'])} + energy {money_text(sale['energy'])}"
            f" + change carried {money_text(sale['carried'])} -> {data_kwh(sale['token']['tenths'])}",
            f"token {digits}",
            f"decoded by the meter's key: TID {data.tid} ({issued_at(data.tid, BaseDate.Y2014):%Y-%m-%d %H:%M} UTC),"
            f" {data_kwh(issued.value)}, subclass {data.subclass} (electricity), CRC ok",
            f"reissued after a lost receipt: {'the same digits' if again.token == issued.token else 'DIFFERENT DIGITS'}",
            f"read later at 4.0 kWh: recorded, {'nothing drawn' if not drawn else 'DRAWN DOWN'} (the credit is on the meter)",
        ]
        self.say(f"token sale {sale['id']} for {KEYPAD_METER}: token {digits}")

    def read_meters(self, day_end: int) -> None:
        """Each wallet reads its meter's P1 telegram and submits the signed reading."""
        txs: list[Transaction] = []
        for home in self.homes:
            while home.meter.time + 3600 <= day_end:
                home.meter = advance(home.meter, 3600)
            params = TxParams(
                self.chain.chain_id, home.consumer.seed,
                Nonce(get_nonce(self.chain.state, home.consumer.public_key)), Height(self.chain.height + 50),
            )
            tx, telegram_size = household_reading(home, params)
            self.summary.telegram_bytes += telegram_size
            txs.append(tx)
            self.summary.meter_signed += home.meter_seed is not None
        receipts = self._record(self.chain.submit(txs, at=day_end + 120))
        for r in receipts:
            if not r.ok:
                raise RuntimeError(f"a reading failed: {r.error}")
        self.summary.readings += len(receipts)

    def show_rejections(self, day_end: int) -> None:
        """Bad input is rejected with what was expected and what was found; nothing is lost."""
        home = self.homes[0]
        reading = total_import(dsmr_telegram(home.meter))
        nonce = Nonce(get_nonce(self.chain.state, home.consumer.public_key))
        backwards = replace(
            reading,
            value=reading.value - 5_000,
            timestamp=Timestamp(day_end + 60),
            raw_hash=hash_domain(Domain.RAW_METER_BYTES, b"a mistyped index"),
        )
        tx = submission(backwards, TxParams(self.chain.chain_id, home.consumer.seed, nonce, Height(self.chain.height + 50)))
        (receipt,) = self._record(self.chain.submit([tx], at=day_end + 180))
        self.summary.rejections.append(f"backwards reading: {receipt.error}")
        stranger = self.chain.actor("stranger")
        (receipt,) = self._record(self.chain.block(
            [(stranger, "billing", "submit_reading",
              [home.meter_id, TOTAL_IMPORT, day_end + 60, reading.value + 10, "consumer", bytes(32), b""])],
            at=day_end + 240))
        self.summary.rejections.append(f"reading by a stranger: {receipt.error}")

    def close_month(self, period_end: int) -> None:
        (receipt,) = self.block([(self.operator, "billing", "run_billing", [UTILITY, period_end, "", 100])])
        for invoice in self.chain.events(receipt, "invoice"):
            self.summary.invoices += 1
            self.summary.invoiced_total += invoice["total"]
        self.say(f"billed period ending {iso(period_end)}: {self.summary.invoices} invoices so far")

    def correct_and_spread(self) -> None:
        """After a billing run the operator credits part of the first paying household's
        invoice, and spreads the new invoice of the household that does not pay over three
        instalments two weeks apart (docs/contracts/corrections.md, plans.md)."""
        postpaid = [h for h in self.homes if h.mode == "postpaid"]
        payer = next((h for h in postpaid if h.pays_bills), None)
        debtor = next((h for h in postpaid if not h.pays_bills), None)
        if payer is None or debtor is None:
            return
        if not all(self.chain.view("billing", "open_invoices", [h.meter_id]) for h in (payer, debtor)):
            return
        calls: list[Call] = []
        inv = self.chain.view("billing", "open_invoices", [payer.meter_id])[-1]
        credit = inv["total"] // 10
        calls.append((self.operator, "billing", "issue_credit_note",
                      [inv["id"], credit, "standing charge while the supply was off for works"]))
        owed = sum(i["total"] - i["paid"] for i in self.chain.view("billing", "open_invoices", [debtor.meter_id]))
        part = owed // 3
        now = self.chain.time + 1
        instalments = [[now + 14 * DAY, part], [now + 28 * DAY, part], [now + 42 * DAY, owed - 2 * part]]
        calls.append((self.operator, "billing", "open_payment_plan",
                      [debtor.meter_id, instalments, "asked to pay in three parts"]))
        self.block(calls, now)
        self.say(f"credit note of {credit / 100:.2f} on {inv['id']}; {debtor.meter_id}'s {owed / 100:.2f} "
                 "spread over three instalments")

    def pay_bills(self) -> None:
        calls = []
        for h in self.homes:
            if h.mode != "postpaid" or not h.pays_bills:
                continue
            for inv in self.chain.view("billing", "open_invoices", [h.meter_id]) or []:
                owed = inv["total"] - inv["paid"]
                if owed > 0:
                    calls.append((self.agent, "payments", "record_payment", [h.meter_id, owed, f"rcpt-{inv['id']}"]))
                    self.summary.paid_total += owed
        if calls:
            self.block(calls)
            self.summary.payments += len(calls)

    def top_up(self) -> None:
        """Prepaid households whose credit runs low buy more, as a wallet would prompt them."""
        buys: list[tuple[Actor, str, str, list[Any]]] = []
        for h in self.homes:
            if h.mode == "prepaid" and h.consumer.name != "household-4":  # one lets credit run out
                if self.chain.view("payments", "credit", [h.meter_id]) < 1_500:
                    buys.append((self.vendor, "payments", "buy_credit",
                                 [h.meter_id, 5_000, f"sale-{h.meter_id}-{self.chain.height}"]))
        if buys:
            self._count_purchases(self.block(buys), [b[3][1] for b in buys])

    def dun(self) -> None:
        """The operator sends reminders and, at a permitted hour, orders disconnection of
        households in arrears; the contract checks arrears in real time and refuses otherwise."""
        # A missed instalment ends a payment plan: recorded first, so its invoices are dunned.
        planned = [h for h in self.homes if h.mode == "postpaid"
                   and self.chain.view("billing", "payment_plan", [h.meter_id]) is not None]
        if planned:
            self.block([(self.operator, "billing", "check_payment_plan", [h.meter_id]) for h in planned])
        self.block([(self.operator, "supply", "send_reminders", [UTILITY, FIELD])])
        for h in self.homes:
            if h.mode == "postpaid" and self.chain.view("billing", "arrears", [h.meter_id]) > 0:
                r = self._record(self.chain.block(
                    [(self.operator, "supply", "request_disconnect", [h.meter_id, "arrears after reminder"])]))[0]
                if not r.ok:
                    self.summary.rejections.append(f"disconnection refused: {r.error}")
                else:
                    h.pays_bills = True  # cut off, the household settles at the next round

    def run(self) -> DemoSummary:
        started = clock.perf_counter()
        self.set_up()
        for day in range(1, self.days + 1):
            day_end = START + day * DAY + READ_AT
            self.read_meters(day_end)
            if day == 3:
                self.show_rejections(day_end)
            if datetime.fromtimestamp(day_end, UTC).day == 1:  # a month has ended
                self.close_month(day_end - READ_AT)
                self.correct_and_spread()
                self.pay_bills()
            self.top_up()
            if datetime.fromtimestamp(day_end, UTC).day == 20:
                self.dun()
        s = self.summary
        s.state_root, s.height = self.chain.state.root, self.chain.height
        s.seconds = clock.perf_counter() - started
        return s



def money_text(minor: int) -> str:
    return f"{minor // 100:,}.{minor % 100:02d} EUR"


def data_kwh(tenths: int) -> str:
    return f"{tenths // 10:,}.{tenths % 10} kWh"


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def run_demo(households: int = 12, days: int = 62, say: Callable[[str], None] = print) -> DemoSummary:
    return Demo(households, days, say).run()
