"""The cash an agent (a collector with a handheld, a bank branch) holds for the utility: what
it collected, what it reversed, what it remitted; and the window within which a payment
taken offline may still be uploaded with the time it was collected.

A collector in the field takes cash while out of coverage and uploads the day's receipts
later: the payment is recorded at upload (that is when billing applies it) but keeps the
time it was collected, checked against the utility's offline window so that a receipt
cannot be back-dated at will. Every payment adds to its agent's cash collected, a reversal
takes it back, and an operator records what the agent hands over (a remittance); the cash
still in the agent's hands is ``collected - reversed - remitted``, never negative: a
remittance beyond it is refused.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.roles import require_role
from common.text import shape
from common.time import SECONDS_PER_DAY
from payments.checks import check_amount, check_reference, next_id
from payments.ledger import ledger_add

DEFAULT_OFFLINE_WINDOW = 7 * SECONDS_PER_DAY  # a handheld synchronises at least weekly
MAX_OFFLINE_WINDOW = 90 * SECONDS_PER_DAY
REMITTERS = ["operator", "admin"]  # who records a remittance, in the order roles are checked


def offline_window_of(utility_id: str) -> int:
    return storage_get(storage_key("offwin:", [utility_id]), DEFAULT_OFFLINE_WINDOW)


def collection_time(utility_id: str, collected_at) -> int:
    """When a payment uploaded now was collected: ``collected_at``, or now when it is 0
    (taken online). Refused in the future or older than the utility's offline window."""
    now = block_time()
    if isinstance(collected_at, int) and collected_at == 0:
        return now
    require(isinstance(collected_at, int), f"collected_at: unix seconds expected, found {shape(collected_at)}")
    require(
        collected_at <= now,
        f"collected_at not after the upload time {now} expected, found {collected_at} ({collected_at - now} s later)",
    )
    window = offline_window_of(utility_id)
    require(
        now - collected_at <= window,
        f"a payment collected within the offline window of {window} s of utility {utility_id} expected, "
        + f"found collected_at {collected_at}, {now - collected_at} s before its upload at {now}",
    )
    return collected_at


def cash_key(utility_id: str, agent: bytes) -> str:
    return storage_key("cash:", [utility_id, bytes_hex(agent)])


def cash_of(utility_id: str, agent: bytes) -> dict:
    return storage_get(cash_key(utility_id, agent), {"collected": 0, "reversed": 0, "remitted": 0})


def cash_add(utility_id: str, agent: bytes, name: str, amount: int) -> None:
    """Add ``amount`` to the agent's ``collected``, ``reversed`` or ``remitted``."""
    cash = cash_of(utility_id, agent)
    cash[name] = cash[name] + amount
    storage_set(cash_key(utility_id, agent), cash)


def outstanding_of(cash: dict) -> int:
    return cash["collected"] - cash["reversed"] - cash["remitted"]


@public
def set_offline_window(utility_id: str, seconds: int) -> None:
    """By the utility's admin: how long after its collection a payment may be uploaded."""
    who = require_role(utility_id, ["admin"])
    require(
        isinstance(seconds, int) and 0 <= seconds and seconds <= MAX_OFFLINE_WINDOW,
        f"an offline window of 0 to {MAX_OFFLINE_WINDOW} seconds expected, found {shape(seconds)}",
    )
    storage_set(storage_key("offwin:", [utility_id]), seconds)
    emit("offline_window_set", {"utility": utility_id, "seconds": seconds, "by": who, "at": block_time()})


@public
def record_remittance(utility_id: str, agent: bytes, amount: int, reference: str) -> str:
    """By an operator (or admin) of the utility: the agent handed ``amount`` of the cash it
    collected to the utility. At most what the agent still holds. Returns the remittance id."""
    who = require_role(utility_id, REMITTERS)
    require(
        isinstance(agent, bytes) and len(agent) == 32,
        f"agent: a 32-byte public key expected, found {shape(agent)}",
    )
    check_amount(amount, "remittance")
    check_reference(reference)
    ref_key = storage_key("rmref:", [utility_id, reference])
    require(
        not storage_has(ref_key),
        f"a new remittance reference expected, found {reference} already used by {storage_get(ref_key)}",
    )
    cash = cash_of(utility_id, agent)
    held = outstanding_of(cash)
    require(
        amount <= held,
        f"a remittance of at most the {held} agent {bytes_hex(agent)} holds expected, found {amount}",
    )
    rid = next_id("RMT")
    now = block_time()
    cash["remitted"] = cash["remitted"] + amount
    storage_set(cash_key(utility_id, agent), cash)
    storage_set(ref_key, rid)
    storage_set(storage_key("rmt:", [rid]), {"id": rid, "utility": utility_id, "agent": agent, "amount": amount,
                                            "reference": reference, "by": who, "at": now})
    ledger_add(utility_id, {"remitted": amount})
    emit("remittance", {"id": rid, "utility": utility_id, "agent": agent, "amount": amount,
                        "reference": reference, "outstanding": held - amount, "by": who, "at": now})
    return rid


@view
def agent_cash(utility_id: str, agent: bytes) -> dict:
    """``{collected, reversed, remitted, outstanding}``: the agent's payments, reversals and
    remittances in the utility, and the cash it still holds for it."""
    cash = cash_of(utility_id, agent)
    return {"collected": cash["collected"], "reversed": cash["reversed"], "remitted": cash["remitted"],
            "outstanding": outstanding_of(cash)}


@view
def offline_window(utility_id: str) -> int:
    return offline_window_of(utility_id)


@view
def remittance(remittance_id: str):
    return storage_get(storage_key("rmt:", [remittance_id]))
