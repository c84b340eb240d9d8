"""Prepaid and token-meter figures by scope and day, beside the postpaid invoices' day totals
(``tot/``, billing/invoices.py): what the operators and regulators read with
``consumption_totals``.

Every prepaid reading adds its units and the money it drew from prepaid credit, and every
token-meter reading its units, to the record of its UTC day in its field, branch and
utility: ``pd/<scope>#<day>`` = ``{"units", "charged", "token_units"}``. A record of its own,
small, because a reading writes it three times (the postpaid ``tot/`` record carries the
dues by day and would cost each reading several times the gas).

A contract module (docs/contract-language.md, "Modules"): compiled into the billing
contract, never imported as Python.
"""

from billing.accounts import DAY_PAD
from common.keys import scope_key
from common.text import pad
from common.time import SECONDS_PER_DAY

PREPAID_FIELDS = ["units", "charged", "token_units"]


def add_prepaid_figures(field_id: str, t: int, changes: dict) -> None:
    """Add ``changes`` (names of PREPAID_FIELDS) to the day of time ``t`` in the field
    ``field_id`` ("U/B/F") and the branch and utility above it."""
    # scope_key("pd/", level, day) (common/keys.py) written out below: three records a
    # prepaid reading, where a call to build the key costs more than the key.
    suffix = "#" + pad(div_floor(t, SECONDS_PER_DAY), DAY_PAD)
    names = changes.keys()
    level = ""
    for part in field_id.split("/"):
        level = part if level == "" else level + "/" + part
        key = "pd/" + level + suffix
        rec = storage_get(key, {})
        for name in names:
            rec[name] = rec.get(name, 0) + changes[name]
        storage_set(key, rec)


def day_records(kind: str, scope: str, first: int, last: int) -> list:
    """The records ``<kind><scope>#<day>`` of UTC days [first, last), in day order (the
    day totals of billing/invoices.py and the figures above)."""
    prefix = scope_key(kind, scope, "")
    after = "" if first <= 0 else prefix + pad(first - 1, DAY_PAD)
    out = []
    done = False
    while not done:
        keys = storage_keys(prefix, after, 1000)
        for k in keys:
            if int(k[len(prefix):]) >= last:
                done = True
                break
            after = k
            out.append(storage_get(k))
        if len(keys) < 1000:
            done = True
    return out


def prepaid_figures(scope: str, first: int, last: int) -> dict:
    """The prepaid figures of ``scope`` summed over UTC days [first, last)."""
    out = {"units": 0, "charged": 0, "token_units": 0}
    for rec in day_records("pd/", scope, first, last):
        for name in rec.keys():
            out[name] = out[name] + rec[name]
    return out
