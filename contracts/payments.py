"""payments: agent payments, same-day reversals, agent reconciliation and prepaid credit
(vendor sales and their same-day reversal, vendor commission, vouchers, emergency credit).

A contract source for the meterchain VM (docs/contract-language.md); read as text and
compiled, never imported. docs/contracts/payments.md explains the rules; this file is their
executable form.

Money is integer minor units (kurus, cents). Every unit that enters through this contract
(an agent's payment, a vendor's sale not reversed, a redeemed voucher) ends up in exactly one of: an
invoice (allocated by billing), a prepaid charge (consumed energy or water), the
subscription's credit account, or a refund. The per-utility ``ledger`` keeps those totals
so that the identity can be checked at any block.

A credit account belongs to one subscription (not to the meter): when the premises move to
a new subscriber the old subscriber's credit stays theirs. An account has a ``balance``
(money, may go negative: consumption beyond the credit is a debt that is kept, never lost),
an emergency reserve ``emergency_limit`` and the part of it in use, ``emergency_used``
(a loan, repaid first from the next money that arrives). The consumer's ``credit`` is what
may still be consumed before supply is cut: ``balance + emergency_limit - emergency_used``.
"""

BILLING = b"contract:billing"
BASIS_POINTS = 10000
MAX_AMOUNT = 1000000000000000  # 10**15 minor units: far above any real payment
MAX_REFERENCE_LEN = 64
MAX_VOUCHERS_PER_BATCH = 200  # ~0.83 M gas: well inside one transaction
# What a voucher key signs to redeem: this tag, then canonical_bytes([meter, account]).
# b"mc/voucher" padded with zero bytes to 16, the length of chain.hashing's domain tags.
VOUCHER_TAG = b"mc/voucher\x00\x00\x00\x00\x00\x00"
ID_DIGITS = 10
SECONDS_PER_DAY = 86400
EXHAUSTED_REASON = "prepaid credit exhausted"
DEFAULT_POLICY = {
    "commission_bp": 0,
    "emergency_credit": 0,
    "exhausted_action": "disconnect",
    "load_limit_watts": 0,
    "voucher_denominations": [],
}
POLICY_ACTIONS = ["disconnect", "load_limit"]
LEDGER_FIELDS = [
    "paid",
    "reversed",
    "allocated",
    "purchased",
    "vouchers",
    "charged",
    "refunded",
    "credit_position",
    "emergency_outstanding",
    "float_deposited",
    "float_balance",
    "commission",
    "vouchers_issued",
    "purchase_reversed",
    "commission_reversed",
    "commission_settled",
]


# --- helpers: ids, roles, time ---------------------------------------------------------


def next_id(prefix: str) -> str:
    """A new id ``PREFIX-0000000001``: zero-padded so ids sort in issue order."""
    n = storage_get("seq:" + prefix, 0) + 1
    storage_set("seq:" + prefix, n)
    text = str(n)
    while len(text) < ID_DIGITS:
        text = "0" + text
    return prefix + "-" + text


def shape(value) -> str:
    """A value as text for an error message (f-strings take only int, str, bool, None)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if value is None:
        return "None"
    if isinstance(value, bytes):
        if len(value) <= 32:
            return "bytes " + bytes_hex(value)
        return f"{len(value)} bytes"
    if isinstance(value, list) or isinstance(value, tuple):
        return f"a list of {len(value)} items"
    if isinstance(value, dict):
        return f"a dict of {len(value)} entries"
    return "a value of another type"


def ints_text(values: list) -> str:
    parts = []
    for v in values:
        parts.append(str(v))
    return ", ".join(parts)


def key_text(value) -> str:
    """A storage-key fragment for a str or bytes value."""
    if isinstance(value, bytes):
        return bytes_hex(value)
    require(isinstance(value, str), f"reference of type str or bytes expected, found {shape(value)}")
    return value


def check_amount(amount, what: str) -> None:
    require(isinstance(amount, int), f"{what}: integer minor units expected, found {shape(amount)}")
    require(amount > 0, f"{what}: positive amount expected, found {amount}")
    require(amount <= MAX_AMOUNT, f"{what}: at most {MAX_AMOUNT} expected, found {amount}")


def check_reference(reference) -> None:
    require(isinstance(reference, str), f"reference of type str expected, found {shape(reference)}")
    require(len(reference) > 0, "a non-empty reference expected, found an empty one")
    require(
        len(reference) <= MAX_REFERENCE_LEN,
        f"reference of at most {MAX_REFERENCE_LEN} characters expected, found {len(reference)}",
    )


def has_role(account: bytes, utility: str, role: str) -> bool:
    return call("registry", "has_role", [account, utility, role])


def require_role(utility: str, roles: list) -> None:
    """The caller must hold one of ``roles`` in ``utility`` (governance holds every role)."""
    who = caller()
    for role in roles:
        if has_role(who, utility, role):
            return
    names = " or ".join(roles)
    revert(f"caller with role {names} of utility {utility} expected, found {bytes_hex(who)}")


def meter_record(meter: str) -> dict:
    require(isinstance(meter, str), f"meter id of type str expected, found {shape(meter)}")
    m = call("registry", "meter", [meter])
    require(m is not None, f"registered meter expected, found no meter {meter}")
    return m


def subscription_record(meter: str) -> dict:
    sub = call("registry", "subscription", [meter])
    require(sub is not None, f"a subscription on meter {meter} expected, found none")
    return sub


def utc_offset(utility: str) -> int:
    """The utility's local-time offset, kept by supply with its protection rules."""
    rules = call("supply", "protection_rules", [utility])
    if rules is None:
        return 0
    return rules.get("utc_offset", 0)


def local_day(utility: str, t: int) -> int:
    """Day number (days since 1970-01-01 local time) of unix time ``t`` in ``utility``."""
    return div_floor(t + utc_offset(utility), SECONDS_PER_DAY)


def policy_of(utility: str) -> dict:
    stored = storage_get("policy:" + utility, None)
    rules = {}
    for name in DEFAULT_POLICY.keys():
        value = DEFAULT_POLICY[name]
        rules[name] = value
    if stored is not None:
        for name in stored.keys():
            value = stored[name]
            rules[name] = value
    return rules


# --- helpers: the ledger ----------------------------------------------------------------


def ledger_of(utility: str) -> dict:
    stored = storage_get("ledger:" + utility, None)
    totals = {}
    for name in LEDGER_FIELDS:
        totals[name] = 0
    if stored is not None:
        for name in stored.keys():
            value = stored[name]
            totals[name] = value
    return totals


def ledger_add(utility: str, changes: dict) -> None:
    totals = ledger_of(utility)
    for name in changes.keys():
        delta = changes[name]
        totals[name] = totals[name] + delta
    storage_set("ledger:" + utility, totals)


# --- helpers: credit accounts -------------------------------------------------------------


def account_key(sub: dict) -> str:
    return "acct:" + sub["id"]


def new_account(sub: dict, meter: str, utility: str) -> dict:
    """An account as it is before its first use; the emergency reserve of the utility's
    policy is granted to prepaid subscriptions when the account opens (at activation)."""
    reserve = 0
    if sub["mode"] == "prepaid":
        reserve = policy_of(utility)["emergency_credit"]
    return {
        "subscription": sub["id"],
        "meter": meter,
        "utility": utility,
        "consumer": sub["consumer"],
        "balance": 0,
        "emergency_limit": reserve,
        "emergency_used": 0,
        "credited": 0,
        "charged": 0,
        "refunded": 0,
        "allocated": 0,
        "applied_credit": 0,
        "low_warned": False,
        "exhausted": False,
        "opened_at": block_time(),
    }


def load_account(sub: dict, meter: str, utility: str) -> dict:
    acct = storage_get(account_key(sub), None)
    if acct is None:
        return new_account(sub, meter, utility)
    # A replaced meter hands its subscription (and so this account) to the new meter.
    acct["meter"] = sub["meter"]
    return acct


def credit_of(acct: dict) -> int:
    return acct["balance"] + acct["emergency_limit"] - acct["emergency_used"]


def position_of(acct: dict) -> int:
    """Money the consumer has with the utility: positive credit, negative debt."""
    return acct["balance"] - acct["emergency_used"]


def save_account(sub: dict, acct: dict, before_position: int, before_emergency: int) -> None:
    acct["by"] = caller()
    acct["at"] = block_time()
    storage_set(account_key(sub), acct)
    ledger_add(
        acct["utility"],
        {
            "credit_position": position_of(acct) - before_position,
            "emergency_outstanding": acct["emergency_used"] - before_emergency,
        },
    )


def add_credit(acct: dict, amount: int) -> int:
    """Credit ``amount`` to the account: the emergency credit in use is repaid first, the
    rest goes to the balance (repaying any debt). Returns the emergency repaid."""
    repaid = min(acct["emergency_used"], amount)
    acct["emergency_used"] = acct["emergency_used"] - repaid
    acct["balance"] = acct["balance"] + amount - repaid
    acct["credited"] = acct["credited"] + amount
    return repaid


def after_credit(sub: dict, acct: dict) -> None:
    """Re-arm the one-shot warnings once the account is above their levels again."""
    if acct["balance"] > sub.get("low_balance_threshold", 0):
        acct["low_warned"] = False
    if credit_of(acct) > 0:
        acct["exhausted"] = False


def supply_connected(meter: str) -> bool:
    status = call("supply", "supply_status", [meter])
    if status is None:
        return True
    return status["status"] == "connected"


# --- governance and policy ------------------------------------------------------------------


@public
def init() -> None:
    require(not storage_has("gov"), "init once expected, found the contract already initialised")
    storage_set("gov", caller())


@public
def set_policy(utility: str, changes: dict) -> None:
    """Prepaid policy of a utility, by its admin: vendor commission (basis points), the
    emergency reserve granted when an account opens, what happens when credit is exhausted
    ("disconnect" or "load_limit" at ``load_limit_watts``), the voucher denominations."""
    require_role(utility, ["admin"])
    require(isinstance(changes, dict), f"policy of type dict expected, found {shape(changes)}")
    merged = policy_of(utility)
    for name in changes.keys():
        value = changes[name]
        require(name in DEFAULT_POLICY, f"policy key among {', '.join(list(DEFAULT_POLICY.keys()))} expected, found {shape(name)}")
        merged[name] = value
    bp = merged["commission_bp"]
    require(isinstance(bp, int) and 0 <= bp and bp <= BASIS_POINTS, f"commission_bp in [0, {BASIS_POINTS}] expected, found {shape(bp)}")
    reserve = merged["emergency_credit"]
    require(isinstance(reserve, int) and 0 <= reserve and reserve <= MAX_AMOUNT, f"emergency_credit in [0, {MAX_AMOUNT}] expected, found {shape(reserve)}")
    action = merged["exhausted_action"]
    require(action in POLICY_ACTIONS, f"exhausted_action among {', '.join(POLICY_ACTIONS)} expected, found {shape(action)}")
    watts = merged["load_limit_watts"]
    require(isinstance(watts, int) and watts >= 0, f"load_limit_watts >= 0 expected, found {shape(watts)}")
    require(action != "load_limit" or watts > 0, f"load_limit_watts > 0 expected with exhausted_action load_limit, found {watts}")
    denominations = merged["voucher_denominations"]
    require(isinstance(denominations, list), f"voucher_denominations of type list expected, found {shape(denominations)}")
    for d in denominations:
        check_amount(d, "voucher denomination")
    merged["by"] = caller()
    merged["at"] = block_time()
    storage_set("policy:" + utility, merged)
    emit("policy_set", {"utility": utility, "policy": merged, "by": caller(), "at": block_time()})


@view
def policy(utility: str) -> dict:
    return policy_of(utility)


# --- postpaid and prepaid payments by agents ---------------------------------------------


def take_agent_payment(utility: str, amount: int, reference: str) -> list:
    """The checks every agent payment passes; returns [agent, reference key]."""
    require_role(utility, ["agent"])
    check_amount(amount, "payment")
    check_reference(reference)
    agent = caller()
    ref_key = "pref:" + bytes_hex(agent) + ":" + reference
    require(
        not storage_has(ref_key),
        f"a new reference for agent expected, found {reference} already used by {storage_get(ref_key)}",
    )
    return [agent, ref_key]


def book_payment(meter: str, utility: str, sub: dict, agent: bytes, ref_key: str, pid: str, amount: int,
                 reference: str, remainder, invoice_id: str) -> dict:
    """Credit what billing did not apply to the subscription's account and record the
    payment (ledger, agent reconciliation, event). Returns the payment record."""
    require(
        isinstance(remainder, int) and 0 <= remainder and remainder <= amount,
        f"billing remainder in [0, {amount}] expected, found {shape(remainder)}",
    )
    applied = amount - remainder
    now = block_time()
    day = local_day(utility, now)

    acct = load_account(sub, meter, utility)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    repaid = add_credit(acct, remainder)
    acct["allocated"] = acct["allocated"] + applied
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)

    record = {
        "id": pid,
        "meter": meter,
        "utility": utility,
        "subscription": sub["id"],
        "consumer": sub["consumer"],
        "agent": agent,
        "amount": amount,
        "reference": reference,
        "invoice": invoice_id,
        "applied": applied,
        "remainder": remainder,
        "repaid_emergency": repaid,
        "at": now,
        "day": day,
        "reversed": False,
        "reversed_at": 0,
        "reversal_reason": "",
    }
    storage_set("pay:" + pid, record)
    storage_set(ref_key, pid)
    recon_add(agent, day, pid, amount)
    ledger_add(utility, {"paid": amount, "allocated": applied})
    emit(
        "payment",
        {
            "id": pid,
            "meter": meter,
            "subscription": sub["id"],
            "invoice": invoice_id,
            "amount": amount,
            "agent": agent,
            "reference": reference,
            "applied": applied,
            "remainder": remainder,
            "repaid_emergency": repaid,
            "balance": acct["balance"],
            "at": now,
        },
    )
    return record


@public
def record_payment(meter: str, amount: int, reference: str) -> str:
    """A payment taken by a registered agent for the meter's current subscription. Billing
    applies it to that subscription's oldest open invoice first (never to an earlier
    subscription's); what remains becomes the subscription's credit. Returns the payment id."""
    m = meter_record(meter)
    utility = m["utility"]
    checked = take_agent_payment(utility, amount, reference)
    sub = subscription_record(meter)
    pid = next_id("PAY")
    # A new payment settles a reversal of the day: the agent has re-keyed it.
    storage_delete("rev:" + meter)
    remainder = call("billing", "apply_payment", [meter, amount, pid])
    book_payment(meter, utility, sub, checked[0], checked[1], pid, amount, reference, remainder, "")
    call("supply", "on_payment", [meter])
    return pid


def current_subscription_of(meter: str, sub_id: str):
    """The registry record of subscription ``sub_id`` if it is still the current one of
    ``meter`` or of the meter that replaced it; None once it has ended (or moved on)."""
    hops = 0
    while meter != "" and hops < 16:
        sub = call("registry", "subscription", [meter])
        if sub is not None and sub["id"] == sub_id:
            return sub
        m = call("registry", "meter", [meter])
        meter = "" if m is None else m["replaced_by"]
        hops += 1
    return None


def invoice_subscription(inv: dict):
    """[subscription record, its current meter or "", whether it is still current] for an
    invoice. An ended subscription's record is rebuilt from the invoice and its account:
    postpaid (only postpaid subscriptions have invoices), no low-balance threshold."""
    sub_id = inv["subscription"]
    sub = current_subscription_of(inv["meter"], sub_id)
    if sub is not None:
        return [sub, sub["meter"], sub["status"] != "terminated"]
    acct = storage_get("acct:" + sub_id, None)
    meter = inv["meter"] if acct is None else acct["meter"]
    return [{"id": sub_id, "meter": meter, "consumer": inv["consumer"], "mode": "postpaid",
             "status": "terminated"}, meter, False]


@public
def record_invoice_payment(invoice_id: str, amount: int, reference: str) -> str:
    """A payment taken by a registered agent for one invoice named by its id, of any
    subscription: the way to collect the final invoice of a subscription that has ended
    (after a move-in the new subscriber's payments never pay it). What exceeds the invoice's
    unpaid amount becomes that subscription's credit while it is current; an ended
    subscription's invoice takes at most its unpaid amount. Returns the payment id."""
    require(isinstance(invoice_id, str), f"invoice id of type str expected, found {shape(invoice_id)}")
    inv = call("billing", "invoice", [invoice_id])
    require(inv is not None, f"an invoice expected, found no invoice {invoice_id}")
    require(inv["status"] == "open", f"an open invoice expected, found invoice {invoice_id} {inv['status']}")
    utility = inv["utility"]
    checked = take_agent_payment(utility, amount, reference)
    found = invoice_subscription(inv)
    sub = found[0]
    meter = inv["meter"]
    if not found[2]:
        # An ended subscription has nothing left to spend credit on: no overpayment.
        owed = inv["total"] - inv["paid"]
        require(
            amount <= owed,
            f"at most the {owed} unpaid of invoice {invoice_id} expected (its subscription has ended), found {amount}",
        )
    pid = next_id("PAY")
    remainder = call("billing", "apply_invoice_payment", [invoice_id, amount, pid])
    book_payment(meter, utility, sub, checked[0], checked[1], pid, amount, reference, remainder, invoice_id)
    if found[2]:
        # Still the subscription in place: its supply may be restored by this payment.
        storage_delete("rev:" + found[1])
        call("supply", "on_payment", [found[1]])
    return pid


def recon_key(agent: bytes, day: int) -> str:
    return "recon:" + bytes_hex(agent) + ":" + str(day)


def recon_ids_prefix(agent: bytes, day: int) -> str:
    return "recon-id:" + bytes_hex(agent) + ":" + str(day) + ":"


def recon_load(agent: bytes, day: int) -> dict:
    return storage_get(
        recon_key(agent, day),
        {"count": 0, "total": 0, "reversed_count": 0, "reversed_total": 0},
    )


def recon_add(agent: bytes, day: int, pid: str, amount: int) -> None:
    # The ids live under their own keys: a busy bank agent takes more payments a day than
    # one stored value may hold.
    r = recon_load(agent, day)
    r["count"] = r["count"] + 1
    r["total"] = r["total"] + amount
    storage_set(recon_key(agent, day), r)
    storage_set(recon_ids_prefix(agent, day) + pid, amount)


@public
def reverse_payment(payment_id: str, reason: str) -> None:
    """Undo a payment: only by the agent that took it, only on the same local day, once."""
    require(isinstance(payment_id, str), f"payment id of type str expected, found {shape(payment_id)}")
    p = storage_get("pay:" + payment_id, None)
    require(p is not None, f"a recorded payment expected, found no payment {payment_id}")
    require(isinstance(reason, str) and len(reason) > 0, "a reason for the reversal expected, found none")
    require(len(reason) <= 256, f"a reason of at most 256 characters expected, found {len(reason)}")
    require(
        not p["reversed"],
        f"a payment not yet reversed expected, found {payment_id} reversed at {p['reversed_at']}",
    )
    agent = caller()
    require(
        agent == p["agent"],
        f"reversal by the agent {bytes_hex(p['agent'])} that took {payment_id} expected, found {bytes_hex(agent)}",
    )
    now = block_time()
    utility = p["utility"]
    today = local_day(utility, now)
    require(
        today == p["day"],
        f"reversal on the payment's day {p['day']} expected, found day {today}",
    )
    meter = p["meter"]
    # Marked before billing runs, so that a disconnection decided on the transient
    # arrears of this reversal (in this transaction or later today) is refused. Not for a
    # payment of an ended subscription's invoice: that debt is no ground for disconnecting
    # anyone on the meter.
    current = current_subscription_of(meter, p["subscription"])
    if current is not None:
        storage_set("rev:" + current["meter"], {"payment": payment_id, "day": today, "at": now,
                                                "utility": utility})

    if p["applied"] > 0:
        call("billing", "revert_payment", [meter, payment_id])

    # The credit the payment created is taken back in full, even if it was spent since:
    # the account then shows a debt rather than money that never arrived.
    acct = storage_get("acct:" + p["subscription"], None)
    require(acct is not None, f"the account of subscription {p['subscription']} expected, found none")
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - p["remainder"]
    acct["credited"] = acct["credited"] - p["remainder"]
    acct["allocated"] = acct["allocated"] - p["applied"]
    save_account({"id": p["subscription"]}, acct, before_position, before_emergency)
    ledger_add(utility, {"reversed": p["amount"], "allocated": 0 - p["applied"]})

    p["reversed"] = True
    p["reversed_at"] = now
    p["reversal_reason"] = reason
    storage_set("pay:" + payment_id, p)
    r = recon_load(agent, p["day"])
    r["reversed_count"] = r["reversed_count"] + 1
    r["reversed_total"] = r["reversed_total"] + p["amount"]
    storage_set(recon_key(agent, p["day"]), r)
    emit(
        "payment_reversed",
        {
            "id": payment_id,
            "meter": meter,
            "subscription": p["subscription"],
            "amount": p["amount"],
            "agent": agent,
            "reason": reason,
            "applied": p["applied"],
            "remainder": p["remainder"],
            "balance": acct["balance"],
            "by": agent,
            "at": now,
        },
    )


@view
def reversal_pending(meter: str) -> bool:
    """True from a payment's reversal until the agent records a new payment for the meter or
    the local day of the reversal ends: the arrears it brings back may be an agent's keying
    error about to be corrected, so no disconnection may be based on them meanwhile."""
    rev = storage_get("rev:" + meter, None)
    if rev is None:
        return False
    return local_day(rev["utility"], block_time()) == rev["day"]


@view
def payment(payment_id: str):
    return storage_get("pay:" + payment_id, None)


@view
def reconciliation(agent: bytes, day: int) -> dict:
    """Daily summary of the payments an agent took on local day ``day`` (unix days in the
    utility's local time). ``count``/``total`` include payments reversed later that day;
    ``net`` is what the agent owes the utility for the day. ``payment_ids`` holds the first
    1000 ids in issue order; ``reconciliation_ids`` pages through the rest."""
    r = recon_load(agent, day)
    return {
        "agent": agent,
        "day": day,
        "count": r["count"],
        "total": r["total"],
        "reversed_count": r["reversed_count"],
        "reversed_total": r["reversed_total"],
        "net": r["total"] - r["reversed_total"],
        "payment_ids": reconciliation_ids(agent, day, "", 1000),
    }


@view
def reconciliation_ids(agent: bytes, day: int, start_after: str, limit: int) -> list:
    """Ids of the payments an agent took on local day ``day``, after ``start_after``."""
    prefix = recon_ids_prefix(agent, day)
    after = ""
    if len(start_after) > 0:
        after = prefix + start_after
    ids = []
    for key in storage_keys(prefix, after, limit):
        ids.append(key[len(prefix):])
    return ids


@view
def reconciliation_items(agent: bytes, day: int, start_after: str, limit: int) -> list:
    """The agent's payments of local day ``day`` as the agent's own ledger lists them:
    ``[id, reference, meter, amount, reversed]`` each, in issue order, paged by id."""
    items = []
    for pid in reconciliation_ids(agent, day, start_after, limit):
        p = storage_get("pay:" + pid)
        items.append([pid, p["reference"], p["meter"], p["amount"], p["reversed"]])
    return items


@public
def apply_credit(meter: str) -> int:
    """Apply a postpaid subscription's advance credit to its open invoices (oldest first).
    By the consumer, an operator of the utility, or billing. Returns the amount applied."""
    m = meter_record(meter)
    utility = m["utility"]
    sub = subscription_record(meter)
    who = caller()
    if who != BILLING and who != sub["consumer"]:
        require_role(utility, ["operator"])
    acct = load_account(sub, meter, utility)
    available = position_of(acct)
    if available <= 0:
        return 0
    cid = next_id("CRD")
    remainder = call("billing", "apply_payment", [meter, available, cid])
    require(
        isinstance(remainder, int) and 0 <= remainder and remainder <= available,
        f"billing remainder in [0, {available}] expected, found {shape(remainder)}",
    )
    applied = available - remainder
    if applied == 0:
        return 0
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - applied
    acct["allocated"] = acct["allocated"] + applied
    acct["applied_credit"] = acct["applied_credit"] + applied
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility, {"allocated": applied})
    emit(
        "credit_applied",
        {"id": cid, "meter": meter, "subscription": sub["id"], "applied": applied, "balance": acct["balance"],
         "by": who, "at": block_time()},
    )
    return applied


def refund_from(sub: dict, acct: dict, meter: str, utility: str, amount: int, reference: str) -> str:
    check_amount(amount, "refund")
    check_reference(reference)
    available = position_of(acct)
    require(amount <= available, f"refund of at most the credit {available} expected, found {amount}")
    rid = next_id("REF")
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - amount
    acct["refunded"] = acct["refunded"] + amount
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility, {"refunded": amount})
    record = {"id": rid, "meter": meter, "subscription": sub["id"], "amount": amount,
              "reference": reference, "by": caller(), "at": block_time()}
    storage_set("refund:" + rid, record)
    emit("refund", record)
    return rid


@public
def refund_credit(meter: str, amount: int, reference: str) -> str:
    """Pay back part of the meter's current subscription's positive credit (e.g. after its
    final bill), by an operator of the utility. Returns the refund id."""
    m = meter_record(meter)
    utility = m["utility"]
    require_role(utility, ["operator"])
    sub = subscription_record(meter)
    return refund_from(sub, load_account(sub, meter, utility), meter, utility, amount, reference)


@public
def refund_subscription_credit(subscription_id: str, amount: int, reference: str) -> str:
    """Pay back part of any subscription's positive credit, by its id: the way to return an
    outgoing subscriber's money once the premises have a new subscriber (the meter's
    `refund_credit` then means the new one). By an operator. Returns the refund id."""
    require(isinstance(subscription_id, str), f"subscription id of type str expected, found {shape(subscription_id)}")
    acct = storage_get("acct:" + subscription_id, None)
    require(acct is not None, f"a credit account of subscription {subscription_id} expected, found none")
    utility = acct["utility"]
    require_role(utility, ["operator"])
    sub = {"id": subscription_id, "consumer": acct["consumer"], "meter": acct["meter"]}
    return refund_from(sub, acct, acct["meter"], utility, amount, reference)


# --- prepaid: vendors, vouchers, emergency credit, charges ------------------------------------


def prepaid_subscription(meter: str) -> dict:
    sub = subscription_record(meter)
    require(sub["mode"] == "prepaid", f"a prepaid subscription on {meter} expected, found {sub['mode']}")
    require(
        sub["status"] != "terminated",
        f"an open subscription on {meter} expected, found status {sub['status']}",
    )
    return sub


def float_key(utility: str, vendor: bytes) -> str:
    return "float:" + utility + ":" + bytes_hex(vendor)


@public
def register_vendor_float(utility: str, vendor: bytes, amount: int) -> int:
    """Record money a vendor prepaid to the utility; its sales draw on it. By an admin or
    agent of the utility. Returns the vendor's float."""
    require_role(utility, ["admin", "agent"])
    require(isinstance(vendor, bytes), f"vendor account of type bytes expected, found {shape(vendor)}")
    require(has_role(vendor, utility, "vendor"), f"a registered vendor of {utility} expected, found {bytes_hex(vendor)}")
    check_amount(amount, "vendor float")
    key = float_key(utility, vendor)
    balance = storage_get(key, 0) + amount
    storage_set(key, balance)
    ledger_add(utility, {"float_deposited": amount, "float_balance": amount})
    emit(
        "vendor_float",
        {"utility": utility, "vendor": vendor, "amount": amount, "float": balance, "by": caller(), "at": block_time()},
    )
    return balance


def commission_key(utility: str, vendor: bytes) -> str:
    return "comm:" + utility + ":" + bytes_hex(vendor)


def commission_load(utility: str, vendor: bytes) -> dict:
    """A vendor's commission totals: ``earned`` on sales, ``reversed`` with reversed sales,
    ``settled`` (paid out) in ``settlements`` payouts. What is owed is the rest."""
    return storage_get(commission_key(utility, vendor), {"earned": 0, "reversed": 0, "settled": 0, "settlements": 0})


def commission_owed(c: dict) -> int:
    return c["earned"] - c["reversed"] - c["settled"]


@view
def vendor_float(utility: str, vendor: bytes) -> dict:
    """The vendor's float and the commission accrued and not yet settled."""
    return {
        "float": storage_get(float_key(utility, vendor), 0),
        "commission": commission_owed(commission_load(utility, vendor)),
    }


@public
def buy_credit(meter: str, amount: int, reference: str) -> str:
    """A vendor sells prepaid credit: the amount is drawn from the vendor's float, the vendor
    earns the utility's commission on it, the emergency credit in use is repaid first and
    the rest is added to the balance. Returns the purchase id (one STS token per id)."""
    m = meter_record(meter)
    utility = m["utility"]
    require_role(utility, ["vendor"])
    check_amount(amount, "purchase")
    check_reference(reference)
    vendor = caller()
    ref_key = "bref:" + bytes_hex(vendor) + ":" + reference
    require(
        not storage_has(ref_key),
        f"a new reference for vendor expected, found {reference} already used by {storage_get(ref_key)}",
    )
    sub = prepaid_subscription(meter)
    fkey = float_key(utility, vendor)
    available = storage_get(fkey, 0)
    require(amount <= available, f"vendor float of at least {amount} expected, found {available}")
    storage_set(fkey, available - amount)
    commission = mul_div(amount, policy_of(utility)["commission_bp"], BASIS_POINTS)
    c = commission_load(utility, vendor)
    c["earned"] = c["earned"] + commission
    storage_set(commission_key(utility, vendor), c)

    acct = load_account(sub, meter, utility)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    repaid = add_credit(acct, amount)
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)

    bid = next_id("BUY")
    sts_ref = sha256(canonical_bytes(["mc/purchase", bid, meter, amount, tx_hash()]))
    now = block_time()
    record = {
        "id": bid,
        "meter": meter,
        "utility": utility,
        "subscription": sub["id"],
        "vendor": vendor,
        "amount": amount,
        "commission": commission,
        "repaid_emergency": repaid,
        "reference": reference,
        "sts_ref": sts_ref,
        "at": now,
        "day": local_day(utility, now),
        # A reversed purchase's STS token is void: a vending side must refuse to issue it.
        "void": False,
        "reversed": False,
        "reversed_at": 0,
        "reversal_reason": "",
    }
    storage_set("buy:" + bid, record)
    storage_set(ref_key, bid)
    ledger_add(utility, {"purchased": amount, "float_balance": 0 - amount, "commission": commission})
    emit(
        "credit_purchase",
        {
            "id": bid,
            "meter": meter,
            "subscription": sub["id"],
            "amount": amount,
            "commission": commission,
            "repaid_emergency": repaid,
            "balance": acct["balance"],
            "credit": credit_of(acct),
            "sts_ref": sts_ref,
            "vendor": vendor,
            "reference": reference,
            "at": now,
        },
    )
    call("supply", "on_payment", [meter])
    return bid


@view
def purchase(purchase_id: str):
    return storage_get("buy:" + purchase_id, None)


@public
def reverse_purchase(purchase_id: str, reason: str) -> None:
    """Undo a sale of prepaid credit: only by the vendor that sold it, only on the same
    local day, once, and only while the credit it added is still unspent. The amount goes
    back to the vendor's float, the commission out of what the vendor has accrued, and the
    purchase's STS token is void."""
    require(isinstance(purchase_id, str), f"purchase id of type str expected, found {shape(purchase_id)}")
    p = storage_get("buy:" + purchase_id, None)
    require(p is not None, f"a recorded purchase expected, found no purchase {purchase_id}")
    require(isinstance(reason, str) and len(reason) > 0, "a reason for the reversal expected, found none")
    require(len(reason) <= 256, f"a reason of at most 256 characters expected, found {len(reason)}")
    require(
        not p["reversed"],
        f"a purchase not yet reversed expected, found {purchase_id} reversed at {p['reversed_at']}",
    )
    vendor = caller()
    require(
        vendor == p["vendor"],
        f"reversal by the vendor {bytes_hex(p['vendor'])} that sold {purchase_id} expected, found {bytes_hex(vendor)}",
    )
    now = block_time()
    utility = p["utility"]
    today = local_day(utility, now)
    require(today == p["day"], f"reversal on the purchase's day {p['day']} expected, found day {today}")

    amount = p["amount"]
    repaid = p["repaid_emergency"]
    to_balance = amount - repaid
    acct = storage_get("acct:" + p["subscription"], None)
    require(acct is not None, f"the account of subscription {p['subscription']} expected, found none")
    # Unlike an agent's payment, a sale is reversed only while its credit is unspent: the
    # token may already be in the meter, and a reversal must never turn a consumer's
    # credit into a debt. The part that repaid emergency credit is drawn again from the
    # reserve, so the account ends as the sale found it plus what happened since.
    require(
        acct["balance"] >= to_balance,
        f"an unspent balance of at least {to_balance} to reverse {purchase_id} expected, found {acct['balance']}",
    )
    room = acct["emergency_limit"] - acct["emergency_used"]
    require(
        room >= repaid,
        f"emergency reserve room of at least {repaid} to reverse {purchase_id} expected, found {room}",
    )
    vendor_c = commission_load(utility, vendor)
    owed = commission_owed(vendor_c)
    require(
        owed >= p["commission"],
        f"accrued commission of at least {p['commission']} to reverse {purchase_id} expected, found {owed} (settled already)",
    )

    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["balance"] = acct["balance"] - to_balance
    acct["emergency_used"] = acct["emergency_used"] + repaid
    acct["credited"] = acct["credited"] - amount
    save_account({"id": p["subscription"]}, acct, before_position, before_emergency)

    fkey = float_key(utility, vendor)
    storage_set(fkey, storage_get(fkey, 0) + amount)
    vendor_c["reversed"] = vendor_c["reversed"] + p["commission"]
    storage_set(commission_key(utility, vendor), vendor_c)
    ledger_add(utility, {"purchase_reversed": amount, "float_balance": amount, "commission_reversed": p["commission"]})

    p["void"] = True
    p["reversed"] = True
    p["reversed_at"] = now
    p["reversal_reason"] = reason
    storage_set("buy:" + purchase_id, p)
    emit(
        "purchase_reversed",
        {
            "id": purchase_id,
            "meter": p["meter"],
            "subscription": p["subscription"],
            "amount": amount,
            "commission": p["commission"],
            "repaid_emergency": repaid,
            "balance": acct["balance"],
            "credit": credit_of(acct),
            "sts_ref": p["sts_ref"],
            "vendor": vendor,
            "reason": reason,
            "by": vendor,
            "at": now,
        },
    )


# --- vendor commission -----------------------------------------------------------------------


def settlement_index(utility: str, vendor: bytes) -> str:
    return "cms-v:" + utility + ":" + bytes_hex(vendor) + ":"


@public
def settle_commission(utility: str, vendor: bytes, amount: int, reference: str) -> str:
    """Record a payout of a vendor's accrued commission, by an admin or agent of the
    utility; never more than is accrued and not yet settled. ``reference`` is the
    utility's own payout document (unique per utility). Returns the settlement id."""
    require_role(utility, ["admin", "agent"])
    require(isinstance(vendor, bytes) and len(vendor) == 32, f"a 32-byte vendor account expected, found {shape(vendor)}")
    check_amount(amount, "commission settlement")
    check_reference(reference)
    ref_key = "cref:" + utility + ":" + reference
    require(
        not storage_has(ref_key),
        f"a new settlement reference expected, found {reference} already used by {storage_get(ref_key)}",
    )
    c = commission_load(utility, vendor)
    owed = commission_owed(c)
    require(amount <= owed, f"a settlement of at most the accrued commission {owed} expected, found {amount}")
    c["settled"] = c["settled"] + amount
    c["settlements"] = c["settlements"] + 1
    storage_set(commission_key(utility, vendor), c)
    sid = next_id("CMS")
    record = {"id": sid, "utility": utility, "vendor": vendor, "amount": amount, "reference": reference,
              "owed_before": owed, "owed_after": owed - amount, "by": caller(), "at": block_time()}
    storage_set("cms:" + sid, record)
    storage_set(settlement_index(utility, vendor) + sid, amount)
    storage_set(ref_key, sid)
    ledger_add(utility, {"commission_settled": amount})
    emit("commission_settled", record)
    return sid


@view
def commission_statement(utility: str, vendor: bytes) -> dict:
    """A vendor's commission for reconciliation: always ``owed == earned - reversed -
    settled``; ``settlements`` payouts are listed by ``commission_settlements``."""
    c = commission_load(utility, vendor)
    return {
        "utility": utility,
        "vendor": vendor,
        "earned": c["earned"],
        "reversed": c["reversed"],
        "settled": c["settled"],
        "owed": commission_owed(c),
        "settlements": c["settlements"],
        "float": storage_get(float_key(utility, vendor), 0),
    }


@view
def commission_settlements(utility: str, vendor: bytes, start_after: str, limit: int) -> list:
    """The vendor's settlement records in issue order, after id ``start_after``."""
    prefix = settlement_index(utility, vendor)
    after = ""
    if len(start_after) > 0:
        after = prefix + start_after
    items = []
    for key in storage_keys(prefix, after, limit):
        items.append(storage_get("cms:" + key[len(prefix):]))
    return items


@view
def commission_settlement(settlement_id: str):
    return storage_get("cms:" + settlement_id, None)


@public
def issue_vouchers(utility: str, denomination: int, public_keys: list) -> str:
    """Issue a batch of scratch-card vouchers of one denomination, by an admin of the
    utility. Only the vouchers' Ed25519 public keys are stored (each derived from a printed
    code, wallet/vouchers.py); the codes never reach the chain. Returns the batch id."""
    require_role(utility, ["admin"])
    check_amount(denomination, "voucher denomination")
    allowed = policy_of(utility)["voucher_denominations"]
    require(
        len(allowed) == 0 or denomination in allowed,
        f"a voucher denomination among {ints_text(allowed)} expected, found {denomination}",
    )
    require(isinstance(public_keys, list), f"a list of voucher public keys expected, found {shape(public_keys)}")
    count = len(public_keys)
    require(
        0 < count and count <= MAX_VOUCHERS_PER_BATCH,
        f"between 1 and {MAX_VOUCHERS_PER_BATCH} vouchers per batch expected, found {count}",
    )
    batch = next_id("VB")
    now = block_time()
    for pk in public_keys:
        require(isinstance(pk, bytes) and len(pk) == 32, f"32-byte voucher public keys expected, found {shape(pk)}")
        key = "voucher:" + bytes_hex(pk)
        require(not storage_has(key), f"a new voucher key expected, found {bytes_hex(pk)} already issued")
        storage_set(
            key,
            {"utility": utility, "denomination": denomination, "batch": batch, "status": "issued",
             "issued_by": caller(), "issued_at": now, "redeemed_by": b"", "meter": "", "redeemed_at": 0, "redemption": ""},
        )
    ledger_add(utility, {"vouchers_issued": denomination * count})
    emit(
        "vouchers_issued",
        {"batch": batch, "utility": utility, "denomination": denomination, "count": count,
         "total": denomination * count, "by": caller(), "at": now},
    )
    return batch


@view
def voucher(public_key: bytes):
    return storage_get("voucher:" + bytes_hex(public_key), None)


@public
def redeem_voucher(meter: str, voucher_public_key: bytes, signature: bytes) -> str:
    """The consumer of a prepaid subscription redeems a voucher on it by signing, with the
    voucher's key, the meter and the consumer's own account: the code never travels, and a
    signature copied from the mempool is worth nothing for another meter or account."""
    m = meter_record(meter)
    utility = m["utility"]
    require(
        isinstance(voucher_public_key, bytes) and len(voucher_public_key) == 32,
        f"a 32-byte voucher public key expected, found {shape(voucher_public_key)}",
    )
    require(
        isinstance(signature, bytes) and len(signature) == 64,
        f"a 64-byte voucher signature expected, found {shape(signature)}",
    )
    key = "voucher:" + bytes_hex(voucher_public_key)
    v = storage_get(key, None)
    require(
        v is not None and v["utility"] == utility,
        f"a voucher issued by {utility} expected, found unknown voucher key {bytes_hex(voucher_public_key)}",
    )
    require(
        v["status"] == "issued",
        f"an unused voucher expected, found one redeemed at {v['redeemed_at']} on {v['meter']}",
    )
    who = caller()
    # Checked before the subscription: whoever copies the signature learns why it fails.
    require(
        ed25519_verify(voucher_public_key, VOUCHER_TAG + canonical_bytes([meter, who]), signature),
        f"a voucher signature for meter {meter} and account {bytes_hex(who)} expected, found one that does not verify",
    )
    sub = prepaid_subscription(meter)
    require(
        who == sub["consumer"],
        f"the consumer {bytes_hex(sub['consumer'])} of {meter} expected, found {bytes_hex(who)}",
    )
    rid = next_id("VCH")
    now = block_time()
    amount = v["denomination"]
    v["status"] = "redeemed"
    v["redeemed_by"] = who
    v["meter"] = meter
    v["redeemed_at"] = now
    v["redemption"] = rid
    storage_set(key, v)

    acct = load_account(sub, meter, utility)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    repaid = add_credit(acct, amount)
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility, {"vouchers": amount})
    emit(
        "voucher_redeemed",
        {"id": rid, "meter": meter, "subscription": sub["id"], "amount": amount, "batch": v["batch"],
         "repaid_emergency": repaid,
         "balance": acct["balance"], "credit": credit_of(acct), "by": who, "at": now},
    )
    call("supply", "on_payment", [meter])
    return rid


@public
def grant_emergency_credit(meter: str, amount: int) -> int:
    """Raise a prepaid account's emergency reserve, by an operator. The reserve is used when
    the balance reaches 0 and is repaid from the next purchase; once repaid it is available
    again. Returns the consumer's credit."""
    m = meter_record(meter)
    utility = m["utility"]
    require_role(utility, ["operator"])
    check_amount(amount, "emergency credit")
    sub = prepaid_subscription(meter)
    acct = load_account(sub, meter, utility)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    acct["emergency_limit"] = acct["emergency_limit"] + amount
    after_credit(sub, acct)
    save_account(sub, acct, before_position, before_emergency)
    emit(
        "emergency_credit_granted",
        {"meter": meter, "subscription": sub["id"], "amount": amount, "limit": acct["emergency_limit"],
         "credit": credit_of(acct), "by": caller(), "at": block_time()},
    )
    call("supply", "on_payment", [meter])
    return credit_of(acct)


@public
def charge_prepaid(meter: str, amount: int, ref) -> int:
    """Deduct priced consumption from a prepaid account; called by billing only, once per
    ``ref`` (the reading). Warns at the low-balance threshold, draws on the emergency
    reserve at 0, and when credit is exhausted orders disconnection or a load limit
    (utility policy) through supply. Returns the consumer's credit after the charge."""
    require(caller() == BILLING, f"caller contract:billing expected, found {shape(caller())}")
    require(isinstance(amount, int) and amount >= 0, f"a charge >= 0 expected, found {shape(amount)}")
    require(amount <= MAX_AMOUNT, f"a charge of at most {MAX_AMOUNT} expected, found {amount}")
    m = meter_record(meter)
    utility = m["utility"]
    sub = call("registry", "subscription", [meter])
    if sub is None and m.get("replaced_by", "") != "":
        # Billing settles a replaced meter's last reading after its subscription has moved
        # to the new meter: the charge belongs to that subscription, orders to that meter.
        sub = call("registry", "subscription", [m["replaced_by"]])
    require(sub is not None, f"a subscription on meter {meter} expected, found none")
    require(sub["mode"] == "prepaid", f"a prepaid subscription on {meter} expected, found {sub['mode']}")
    current = sub["meter"]
    # Keyed by a hash of (meter, ref): ids may contain any separator, a hash never collides.
    ckey = "charge:" + bytes_hex(sha256(canonical_bytes([meter, key_text(ref)])))
    require(not storage_has(ckey), f"a new charge reference for {meter} expected, found {key_text(ref)} already charged")
    now = block_time()
    storage_set(ckey, {"amount": amount, "at": now})

    acct = load_account(sub, current, utility)
    before_position = position_of(acct)
    before_emergency = acct["emergency_used"]
    before_balance = acct["balance"]
    # Balance first, then the emergency reserve, then debt.
    from_balance = min(max(acct["balance"], 0), amount)
    rest = amount - from_balance
    from_reserve = min(max(acct["emergency_limit"] - acct["emergency_used"], 0), rest)
    acct["emergency_used"] = acct["emergency_used"] + from_reserve
    acct["balance"] = acct["balance"] - from_balance - (rest - from_reserve)
    acct["charged"] = acct["charged"] + amount
    left = credit_of(acct)
    threshold = sub.get("low_balance_threshold", 0)

    events = []
    if not acct["low_warned"] and acct["balance"] <= threshold and before_balance > threshold:
        acct["low_warned"] = True
        events.append(["low_balance", {"meter": current, "consumer": sub["consumer"], "balance": acct["balance"],
                                       "credit": left, "threshold": threshold, "at": now}])
    if from_reserve > 0 and before_emergency == 0:
        events.append(["emergency_credit_in_use", {"meter": current, "consumer": sub["consumer"],
                                                   "used": acct["emergency_used"],
                                                   "limit": acct["emergency_limit"], "at": now}])
    exhausted = left <= 0 and amount > 0
    if exhausted and not acct["exhausted"]:
        acct["exhausted"] = True
        events.append(["credit_exhausted", {"meter": current, "consumer": sub["consumer"], "balance": acct["balance"],
                                            "credit": left, "at": now}])
    save_account(sub, acct, before_position, before_emergency)
    ledger_add(utility, {"charged": amount})
    emit("credit_deducted", {"meter": current, "subscription": sub["id"], "amount": amount, "ref": ref,
                            "balance": acct["balance"],
                            "credit": left, "at": now})
    for e in events:
        emit(e[0], e[1])
    # Retried on every charge while credit is exhausted and supply is still on: an order
    # deferred by friendly hours or a pending reversal is tried again at the next reading.
    if exhausted and supply_connected(current):
        p = policy_of(utility)
        if p["exhausted_action"] == "load_limit":
            call("supply", "set_load_limit", [current, p["load_limit_watts"], EXHAUSTED_REASON])
        else:
            call("supply", "try_disconnect", [current, EXHAUSTED_REASON])
    return left


# --- views ------------------------------------------------------------------------------


@view
def credit(meter: str) -> int:
    """What the current subscriber of ``meter`` may still consume: balance plus unused
    emergency reserve; negative when consumption ran past both (a debt, kept)."""
    m = call("registry", "meter", [meter])
    if m is None:
        return 0
    sub = call("registry", "subscription", [meter])
    if sub is None:
        return 0
    return credit_of(load_account(sub, meter, m["utility"]))


@view
def account(meter: str):
    """The credit account of the current subscription of ``meter`` (None without one)."""
    m = call("registry", "meter", [meter])
    if m is None:
        return None
    sub = call("registry", "subscription", [meter])
    if sub is None:
        return None
    acct = load_account(sub, meter, m["utility"])
    acct["credit"] = credit_of(acct)
    acct["position"] = position_of(acct)
    return acct


@view
def subscription_account(subscription_id: str):
    """The credit account of any subscription, current or past (None if never used)."""
    return storage_get("acct:" + subscription_id, None)


@view
def ledger(utility: str) -> dict:
    """Money totals of a utility. Always: paid - reversed + purchased - purchase_reversed +
    vouchers == allocated + charged + refunded + credit_position; float_deposited ==
    float_balance + purchased - purchase_reversed; commission - commission_reversed -
    commission_settled == the commission owed to the utility's vendors."""
    return ledger_of(utility)
