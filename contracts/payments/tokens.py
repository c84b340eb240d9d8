"""Token-meter sales: the keypad meters of STS, on which the credit lives. A subscription in
mode ``token`` has no credit account to draw down: a vendor's sale converts the money to
energy or water at the tariff in force and records a request for exactly one token (meter,
amount in tenths of the meter's kWh or m3, the TID to use) that the vending service issues
(utility_services/token_sales.py); billing records the meter's readings for consumption
figures and never charges them. A lost token is reissued as the same token: a reissue is
recorded, it never credits again.

The conversion, stated on the sale record:
- tax: the amount includes the tariff's tax; ``taxable = floor(amount * 10000 / (10000 +
  tax_bp))``, ``tax = amount - taxable``;
- standing charge: for the seconds from the end of what the subscription's sales have paid
  (at first its opening) to the sale, at the version in force, rounded down; the seconds
  that floor leaves unpaid stay for the next sale;
- energy: what is left, plus what earlier sales carried, fills the tariff's tiers in order.
  A tier's allowance accrues with time at its daily width (``upto_per_day`` of the tier
  minus the one below) from the previous sale, at most ``MAX_BANKED_DAYS`` days of it kept,
  and a new subscription starts with them all: how often a consumer buys does not change
  the price of a month's energy, the first sale gets a month's allowance, and a long
  absence banks no more than a month of cheap energy. Time-of-use windows do not apply (a keypad meter's
  credit is not read by the hour);
- the token carries whole tenths of a kWh or m3 (100 Wh or litres), at most what the STS
  amount field carries exactly; the energy bought is priced exactly and rounded up to a
  minor unit, and what is left (less than a tenth's price) is carried to the next sale.
So ``amount == tax + standing + energy + carried_after - carried_before``, in the ledger too.

TID: minutes since 2014-01-01 00:00 UTC (``TID_BASE``, the base date meters in service
use now, docs/sts.md), and always after the meter's previous token's: two sales within a
minute take the next minutes, as a vending point does.

Reversal (``reverse_token_sale``): an operator reverses a sale whose token was never entered
(a wrong meter or amount noticed at once, a token the consumer hands back unused). Only the
meter's latest token: the token account is put back as the sale found it, and a keypad meter
takes tokens in TID order, so a later token would make an earlier one's fate unknowable. The
money goes back to the vendor's float, the commission out of what the vendor has accrued,
the ledger's token totals lose the sale's parts (they stay net of reversals); the sale record
keeps the token's TID as cancelled, so a reissue cannot vend it again, and the meter's next
token takes a later TID (``tid:<meter>`` does not go back).

Storage: ``tok:<id>`` sale record, ``tacct:<subscription id>`` the token account
{paid_until, carried, rooms, last_at, sold, sales}, ``tid:<meter>`` the meter's last TID.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.activity import add_activities, bump_activity
from common.keys import storage_key
from common.roles import has_role, require_role
from common.text import shape
from common.time import SECONDS_PER_DAY
from payments.checks import (
    local_day,
    meter_record,
    next_id,
    subscription_record,
)
from payments.commission import commission_key, commission_load, commission_owed, float_key
from payments.ledger import ledger_add
from payments.policy import BASIS_POINTS, policy_of
from payments.sales import take_vendor_sale

MICRO = 1000000  # tariff prices are micro minor units per Wh or litre
BASE_UNITS_PER_TENTH = 100  # 0.1 kWh = 100 Wh; 0.1 m3 = 100 litres
TID_BASE = 1388534400  # 2014-01-01 00:00:00 UTC
TID_MAX = 16777215  # 24 bits
MAX_BANKED_DAYS = 31
MANTISSA_MAX = 16383  # the STS amount field: 14-bit mantissa, 2-bit exponent
SUBCLASSES = {"electricity": 0, "water": 1, "gas": 2}
MAX_REISSUE_REASON = 256
REVERSERS = ["operator", "admin"]  # in the order their roles are checked


def token_subscription(meter_id: str) -> dict:
    sub = subscription_record(meter_id)
    require(sub["mode"] == "token", f"a token-meter subscription on {meter_id} expected, found {sub['mode']}")
    require(sub["status"] == "active", f"an active subscription on {meter_id} expected, found status {sub['status']}")
    return sub


def representable_tenths(tenths: int) -> int:
    """The largest amount at most ``tenths`` that the STS amount field carries exactly:
    every value up to 16383, then steps of 10, 100 and 1000 (docs/sts.md)."""
    offset = 0
    step = 1
    best = 0
    for _e in range(4):
        if tenths < offset:
            return best
        top = offset + MANTISSA_MAX * step
        if tenths <= top:
            return offset + div_floor(tenths - offset, step) * step
        best = top
        offset = offset + (MANTISSA_MAX + 1) * step
        step = step * 10
    return best


def tier_rooms(tiers: list, rooms: list, elapsed: int) -> list:
    # What each tier still allows: the room left at the previous sale plus its daily width
    # for the seconds since, at most MAX_BANKED_DAYS days of it; None for the top tier.
    out = []
    below = 0
    for i in range(len(tiers)):
        upto = tiers[i][0]
        if upto is None:
            out.append(None)
        else:
            width = upto - below
            below = upto
            # A tier the account has not seen yet (a new account) starts full: a month's
            # allowance is there for the first sale, as a monthly block tariff gives it.
            have = rooms[i] if i < len(rooms) and rooms[i] is not None else width * MAX_BANKED_DAYS
            out.append(min(have + div_floor(width * elapsed, SECONDS_PER_DAY), width * MAX_BANKED_DAYS))
    return out


def affordable_units(tiers: list, rooms: list, budget_micro: int, cap: int) -> int:
    # Units the budget buys filling the tiers in order (a tier is left only when full), at
    # most `cap`.
    units = 0
    for i in range(len(tiers)):
        price = tiers[i][1]
        room = rooms[i]
        q = cap - units if room is None else min(room, cap - units)
        if price > 0:
            q = min(q, div_floor(budget_micro, price))
        units += q
        budget_micro -= q * price
        if units >= cap or (room is None or q < room):
            break
    return units


def tier_lines(tiers: list, rooms: list, units: int) -> list:
    # [[tier index, units, price_micro]] of `units` filling the tiers in order.
    lines = []
    left = units
    for i in range(len(tiers)):
        if left <= 0:
            break
        q = left if rooms[i] is None else min(left, rooms[i])
        if q > 0:
            lines.append([i, q, tiers[i][1]])
            left -= q
    return lines


def tariff_now(meter_id: str, utility_id: str, now: int) -> list:
    # [tariff id, version in force] of the meter's tariff, read from billing.
    tid = call("billing", "assigned_tariff", [meter_id])
    require(tid != "", f"a tariff assigned to meter {meter_id} expected, found none")
    vs = call("billing", "tariff", [utility_id, tid])
    i = 0
    for j in range(1, len(vs)):
        if vs[j]["effective_from"] <= now:
            i = j
    return [tid, vs[i]]


def next_tid(meter_id: str, now: int) -> int:
    key = storage_key("tid:", [meter_id])
    tid = max(div_floor(now - TID_BASE, 60), storage_get(key, -1) + 1)
    require(tid <= TID_MAX, f"a TID of at most {TID_MAX} (base date 2014-01-01) expected, found {tid}")
    storage_set(key, tid)
    return tid


@public
def sell_token(meter_id: str, amount: int, reference: str) -> str:
    """A vendor sells energy or water to a token meter: the amount is drawn from the
    vendor's float (commission as for credit), converted at the tariff in force (see the
    module), and one token is requested for the vending service. Returns the sale id."""
    m = meter_record(meter_id)
    utility_id = m["utility"]
    vendor, ref_key = take_vendor_sale(utility_id, amount, reference, "token sale")
    sub = token_subscription(meter_id)
    now = block_time()
    tariff_id, version = tariff_now(meter_id, utility_id, now)
    spec = version["spec"]
    require(spec.get("tou", None) is None,
            f"a tariff without time-of-use windows for token meter {meter_id} expected, found {tariff_id} with them")

    akey = storage_key("tacct:", [sub["id"]])
    acct = storage_get(akey)
    if acct is None:
        acct = {"subscription": sub["id"], "meter": meter_id, "utility": utility_id, "paid_until": sub["opened_at"],
                "carried": 0, "rooms": [], "last_at": sub["opened_at"], "sold": 0, "sales": 0}
    tax_bp = spec["tax_bp"]
    taxable = div_floor(amount * BASIS_POINTS, BASIS_POINTS + tax_bp)
    tax = amount - taxable
    per_day = spec["standing_charge_per_day"]
    standing_seconds = max(now - acct["paid_until"], 0)
    # Floor, and the seconds it does not pay wait for the next sale: however often a
    # consumer buys, the standing charge comes to the same.
    standing = div_floor(per_day * standing_seconds, SECONDS_PER_DAY)
    paid_seconds = standing_seconds
    if per_day > 0:
        paid_seconds = div_floor(standing * SECONDS_PER_DAY, per_day)
    carried_before = acct["carried"]
    budget = taxable - standing + carried_before
    tiers = spec["tiers"]
    rooms = tier_rooms(tiers, acct["rooms"], max(now - acct["last_at"], 0))
    cap = representable_tenths(1000000000) * BASE_UNITS_PER_TENTH
    bought = 0 if budget <= 0 else affordable_units(tiers, rooms, budget * MICRO, cap)
    tenths = representable_tenths(div_floor(bought, BASE_UNITS_PER_TENTH))
    unit = "kWh" if m["unit"] == "Wh" else "m3"
    require(
        tenths > 0,
        f"a sale buying at least 0.1 {unit} expected, found {amount} buying {max(bought, 0)} {m['unit']} after "
        + f"tax {tax} and standing charge {standing} ({standing_seconds} s at {per_day} a day)",
    )
    units = tenths * BASE_UNITS_PER_TENTH
    lines = tier_lines(tiers, rooms, units)
    cost = 0
    for i, q, price in lines:
        cost += q * price
        rooms[i] = None if rooms[i] is None else rooms[i] - q
    energy = div_ceil(cost, MICRO)
    carried = budget - energy

    fkey = float_key(utility_id, vendor)
    available = storage_get(fkey, 0)
    require(amount <= available, f"vendor float of at least {amount} expected, found {available}")
    storage_set(fkey, available - amount)
    commission = mul_div(amount, policy_of(utility_id)["commission_bp"], BASIS_POINTS)
    c = commission_load(utility_id, vendor)
    c["earned"] = c["earned"] + commission
    storage_set(commission_key(utility_id, vendor), c)

    acct["paid_until"] = acct["paid_until"] + paid_seconds
    acct["last_at"] = now
    acct["carried"] = carried
    acct["rooms"] = rooms
    acct["sold"] = acct["sold"] + units
    acct["sales"] = acct["sales"] + 1
    storage_set(akey, acct)

    sid = next_id("TOK")
    token = {"meter": meter_id, "subclass": SUBCLASSES[m["commodity"]], "tenths": tenths,
             "tid": next_tid(meter_id, now), "tid_base": "2014-01-01"}
    sts_ref = sha256(canonical_bytes(["mc/token-sale", sid, meter_id, tenths, token["tid"], tx_hash()]))
    record = {
        "id": sid, "meter": meter_id, "utility": utility_id, "subscription": sub["id"], "consumer": sub["consumer"],
        "vendor": vendor, "amount": amount, "commission": commission, "reference": reference,
        "tariff": tariff_id, "tariff_from": version["effective_from"], "tax_bp": tax_bp, "tax": tax,
        "standing_per_day": per_day, "standing_seconds": standing_seconds, "standing": standing,
        "lines": lines, "energy": energy, "carried_before": carried_before, "carried": carried,
        "units": units, "token": token, "sts_ref": sts_ref, "reissues": 0,
        "at": now, "day": local_day(utility_id, now),
    }
    storage_set(storage_key("tok:", [sid]), record)
    storage_set(ref_key, sid)
    # Operator figures: token sales and the energy or water they bought, by scope and day.
    add_activities(sub, {"token_sold": amount, "token_units": units, "token_sales": 1})
    ledger_add(utility_id, {"float_balance": 0 - amount, "commission": commission, "token_sold": amount,
                            "token_tax": tax, "token_standing": standing, "token_energy": energy,
                            "token_carried": carried - carried_before})
    emit("token_sale", {"id": sid, "meter": meter_id, "subscription": sub["id"], "amount": amount,
                        "commission": commission, "tax": tax, "standing": standing, "energy": energy,
                        "carried": carried, "units": units, "tenths": tenths, "tid": token["tid"],
                        "subclass": token["subclass"], "sts_ref": sts_ref, "vendor": vendor,
                        "reference": reference, "at": now})
    return sid


@public
def reissue_token(sale_id: str, reason: str) -> dict:
    """A lost or unreadable token is issued again as the same token (same TID and amount):
    by the subscription's consumer, the vendor that sold it, or an operator. Nothing is
    credited; the reissue is on record. Returns the token request."""
    require(isinstance(sale_id, str), f"sale id of type str expected, found {shape(sale_id)}")
    key = storage_key("tok:", [sale_id])
    s = storage_get(key)
    require(s is not None, f"a recorded token sale expected, found no sale {sale_id}")
    require(isinstance(reason, str) and 0 < len(reason) and len(reason) <= MAX_REISSUE_REASON,
            f"a reason of 1 to {MAX_REISSUE_REASON} characters expected, found {shape(reason)}")
    cancelled = s.get("cancelled", None)
    if cancelled is not None:
        revert(f"a sale not reversed expected for a reissue, found {sale_id} reversed at {cancelled['at']} (TID {cancelled['tid']} cancelled)")
    who = caller()
    if who != s["consumer"] and who != s["vendor"]:
        require(has_role(who, s["utility"], "operator"),
                f"the consumer, the selling vendor or an operator of {s['utility']} expected, found {bytes_hex(who)}")
    s["reissues"] = s["reissues"] + 1
    storage_set(key, s)
    bump_activity(meter_record(s["meter"]), "token_reissues")
    t = s["token"]
    emit("token_reissued", {"id": sale_id, "meter": t["meter"], "subscription": s["subscription"], "tid": t["tid"],
                            "tenths": t["tenths"], "subclass": t["subclass"], "sts_ref": s["sts_ref"],
                            "reissue": s["reissues"], "reason": reason, "by": who, "at": block_time()})
    return t


def paid_seconds_of(s: dict) -> int:
    # The seconds of standing charge the sale paid (sell_token: floor, the rest waits).
    if s["standing_per_day"] > 0:
        return div_floor(s["standing"] * SECONDS_PER_DAY, s["standing_per_day"])
    return s["standing_seconds"]


@public
def reverse_token_sale(sale_id: str, reason: str) -> dict:
    """An operator reverses a token sale whose token was never entered: the meter's latest
    token only, its commission still accrued. The token account goes back as the sale found
    it, the money to the vendor's float, and the token's TID is recorded as cancelled.
    Returns the sale record."""
    require(isinstance(sale_id, str), f"sale id of type str expected, found {shape(sale_id)}")
    key = storage_key("tok:", [sale_id])
    s = storage_get(key)
    require(s is not None, f"a recorded token sale expected, found no sale {sale_id}")
    who = require_role(s["utility"], REVERSERS)
    require(isinstance(reason, str) and 0 < len(reason) and len(reason) <= MAX_REISSUE_REASON,
            f"a reason of 1 to {MAX_REISSUE_REASON} characters expected, found {shape(reason)}")
    cancelled = s.get("cancelled", None)
    if cancelled is not None:
        revert(f"a token sale not yet reversed expected, found {sale_id} reversed at {cancelled['at']}")
    meter_id = s["meter"]
    tid = s["token"]["tid"]
    latest = storage_get(storage_key("tid:", [meter_id]), -1)
    if tid != latest:
        revert(f"the latest token of meter {meter_id} expected for a reversal, found {sale_id} with TID {tid} before TID {latest}")
    vendor = s["vendor"]
    utility_id = s["utility"]
    c = commission_load(utility_id, vendor)
    owed = commission_owed(c)
    if owed < s["commission"]:
        revert(f"accrued commission of at least {s['commission']} to reverse {sale_id} expected, found {owed} (settled already)")

    # The token account as the sale found it (its allowance accrued up to the sale stays).
    akey = storage_key("tacct:", [s["subscription"]])
    acct = storage_get(akey)
    rooms = acct["rooms"]
    for i, q, price in s["lines"]:
        if rooms[i] is not None:
            rooms[i] = rooms[i] + q
    acct["rooms"] = rooms
    acct["paid_until"] = acct["paid_until"] - paid_seconds_of(s)
    acct["carried"] = s["carried_before"]
    acct["sold"] = acct["sold"] - s["units"]
    acct["sales"] = acct["sales"] - 1
    storage_set(akey, acct)

    amount = s["amount"]
    fkey = float_key(utility_id, vendor)
    storage_set(fkey, storage_get(fkey, 0) + amount)
    c["reversed"] = c["reversed"] + s["commission"]
    storage_set(commission_key(utility_id, vendor), c)
    change = s["carried"] - s["carried_before"]
    ledger_add(utility_id, {"float_balance": amount, "commission_reversed": s["commission"], "token_sold": 0 - amount,
                            "token_tax": 0 - s["tax"], "token_standing": 0 - s["standing"],
                            "token_energy": 0 - s["energy"], "token_carried": 0 - change})
    # Operator figures: the sale's money and units come off (on the UTC day of the reversal).
    add_activities(meter_record(meter_id), {"token_sold": 0 - amount, "token_units": 0 - s["units"],
                                            "token_sales_reversed": 1})
    now = block_time()
    s["cancelled"] = {"tid": tid, "reason": reason, "by": who, "at": now}
    storage_set(key, s)
    emit("token_sale_reversed", {"id": sale_id, "meter": meter_id, "subscription": s["subscription"],
                                 "amount": amount, "commission": s["commission"], "tax": s["tax"],
                                 "standing": s["standing"], "energy": s["energy"], "carried": s["carried"],
                                 "carried_before": s["carried_before"], "units": s["units"], "tid": tid,
                                 "sts_ref": s["sts_ref"], "vendor": vendor, "reason": reason, "by": who, "at": now})
    return s


@view
def token_sale(sale_id: str):
    return storage_get(storage_key("tok:", [sale_id]))


@view
def token_account(subscription_id: str):
    return storage_get(storage_key("tacct:", [subscription_id]))
