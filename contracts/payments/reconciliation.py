"""An agent's daily reconciliation: the count and total of the day's payments and
reversals, and the ids of the day's payments.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key


def recon_key(agent: bytes, day: int) -> str:
    return storage_key("recon:", [bytes_hex(agent), str(day)])


def recon_ids_prefix(agent: bytes, day: int) -> str:
    return storage_key("recon-id:", [bytes_hex(agent), str(day), ""])


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
        p = storage_get(storage_key("pay:", [pid]))
        items.append([pid, p["reference"], p["meter"], p["amount"], p["reversed"]])
    return items
