"""The readings of a postpaid period, committed to in constant space so that a rebill can
correct any of them (issue 12), and replayed from scratch to price the period again.

Billing keeps no record per reading (issue 11: the reading history is in the receipts'
events, served by the node's history index). What it keeps instead, in the meter's state
while a postpaid subscription is billed, is a commitment to the open span's readings:

- ``base``: ``[time, index]`` of the reading the span starts from (the previous invoice's
  last reading, or the meter's reading before the subscription's billing started);
- ``rh``: a running hash over every reading of the span but the last, each linked as
  ``sha256(rh + canonical_bytes([time, index, interval]))`` from ``rh = b""``, where
  ``interval`` is 0 for a plain reading and a load profile's interval length for one of its
  intervals (it says how the reading was priced: an interval in the time-of-use window of
  its start);
- ``rn``: how many readings the span has; ``ivl``: the interval of the last one (its time
  and index are the meter's own ``ts`` and ``index``).

The last reading is linked only when the next one comes, so a correction of the last reading
(``rebill``) changes no hash. An actual invoice freezes the commitment into its ``basis``
(``basis.readings``, ``open_commitment``); a rebill is given the period's readings from the node's
history, checks them against the commitment, applies the corrections and prices the whole
period again with the functions every reading uses (period_replay.py), so a replacement is
priced as an invoice from those readings would have been. docs/contracts/corrections.md
("Rebills of any reading") says why this and not a record per reading.

A contract module (docs/contract-language.md, "Modules"): compiled into the billing contract,
never imported as Python.
"""


def start_period_readings(st: dict) -> None:
    # A new span of a postpaid subscription begins at the meter's last reading.
    st["base"] = [st["ts"], st["index"]]
    st["rh"] = b""
    st["rn"] = 0
    st["ivl"] = 0


def stop_period_readings(st: dict) -> None:
    # No commitment where no postpaid invoice will be issued from it (a prepaid or token
    # subscription), or where its readings are not one meter's (a meter replaced mid-span).
    for k in ["base", "rh", "rn", "ivl"]:
        st.pop(k, None)


def reading_link(h: bytes, ts: int, index: int, interval: int) -> bytes:
    return sha256(h + canonical_bytes([ts, index, interval]))


def note_reading(st: dict, interval: int) -> None:
    # Called by record() before the meter's last reading is replaced by a new one of the span.
    n = st.get("rn", None)
    if n is None:
        return
    if n > 0:
        st["rh"] = reading_link(st["rh"], st["ts"], st["index"], st["ivl"])
    st["rn"] = n + 1
    st["ivl"] = interval


def open_commitment(st: dict) -> dict:
    # The commitment of the meter's open span, in the shape an invoice's basis keeps it.
    return {"base": st["base"], "hash": st["rh"], "count": st["rn"], "last_interval": st["ivl"],
            "opened": st["opened"]}
