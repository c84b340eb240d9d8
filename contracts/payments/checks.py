"""What every payment entry point checks and derives: amounts, references, new ids, the
meter and its subscription (from the registry), the utility's local day (from supply), and
the checks of a same-day reversal.

A contract module (docs/contract-language.md, "Modules"): compiled into the payments contract,
never imported as Python.
"""

from common.keys import storage_key
from common.text import shape
from common.time import SECONDS_PER_DAY

BILLING = b"contract:billing"
MAX_AMOUNT = 1000000000000000  # 10**15 minor units: far above any real payment
MAX_REFERENCE_LEN = 64
ID_DIGITS = 10


def next_id(prefix: str) -> str:
    """A new id ``PREFIX-0000000001``: zero-padded so ids sort in issue order."""
    n = storage_get(storage_key("seq:", [prefix]), 0) + 1
    storage_set(storage_key("seq:", [prefix]), n)
    text = str(n)
    while len(text) < ID_DIGITS:
        text = "0" + text
    return prefix + "-" + text


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


def meter_record(meter_id: str) -> dict:
    require(isinstance(meter_id, str), f"meter id of type str expected, found {shape(meter_id)}")
    m = call("registry", "meter", [meter_id])
    require(m is not None, f"registered meter expected, found no meter {meter_id}")
    return m


def subscription_record(meter_id: str) -> dict:
    sub = call("registry", "subscription", [meter_id])
    require(sub is not None, f"a subscription on meter {meter_id} expected, found none")
    return sub


def utc_offset(utility_id: str, t: int) -> int:
    """The utility's local-time offset at unix time ``t`` (daylight saving included), kept by
    supply with its protection rules (supply.local_offset)."""
    return call("supply", "local_offset", [utility_id, t])


def local_day(utility_id: str, t: int) -> int:
    """Day number (days since 1970-01-01 local time) of unix time ``t`` in ``utility``."""
    return div_floor(t + utc_offset(utility_id, t), SECONDS_PER_DAY)


def same_day_reversal(what: str, prefix: str, record_id, reason, actor: str, verb: str) -> list:
    """The checks of every same-day reversal (an agent's payment, a vendor's sale of credit):
    the record exists, a reason of 1 to 256 characters is given, it is not reversed yet, the
    caller is the ``actor`` (the record's field naming who made it) and it is still the
    record's local day. Returns [the record, today]."""
    require(isinstance(record_id, str), f"{what} id of type str expected, found {shape(record_id)}")
    rec = storage_get(storage_key(prefix, [record_id]))
    require(rec is not None, f"a recorded {what} expected, found no {what} {record_id}")
    require(isinstance(reason, str) and len(reason) > 0, "a reason for the reversal expected, found none")
    require(len(reason) <= 256, f"a reason of at most 256 characters expected, found {len(reason)}")
    require(
        not rec["reversed"],
        f"a {what} not yet reversed expected, found {record_id} reversed at {rec['reversed_at']}",
    )
    who = caller()
    require(
        who == rec[actor],
        f"reversal by the {actor} {bytes_hex(rec[actor])} that {verb} {record_id} expected, found {bytes_hex(who)}",
    )
    today = local_day(rec["utility"], block_time())
    require(today == rec["day"], f"reversal on the {what}'s day {rec['day']} expected, found day {today}")
    return [rec, today]
