"""Loading the registry's records (utility, meter, subscription) with a clear error when
absent, and checking a scope (utility, branch or field).

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.keys import storage_key
from common.text import shape

DEFAULT_SEGMENT = "residential"
BILLING = "billing"
PAYMENTS = "payments"


def load_utility(utility_id: str) -> dict:
    u = storage_get(storage_key("u/", [utility_id]))
    require(u is not None, f"registered utility expected, found no utility '{utility_id}'")
    return u


def load_meter(meter_id: str) -> dict:
    require(isinstance(meter_id, str), f"meter id: text expected, found {shape(meter_id)}")
    m = storage_get(storage_key("m/", [meter_id]))
    require(m is not None, f"registered meter expected, found no meter '{meter_id}'")
    return m


def load_subscription(meter_id: str, statuses: list) -> dict:
    s = storage_get(storage_key("s/", [meter_id]))
    wanted = " or ".join(statuses)
    require(s is not None, f"a subscription ({wanted}) on meter {meter_id} expected, found none")
    status = s["status"]
    require(status in statuses, f"a subscription ({wanted}) on meter {meter_id} expected, found {status}")
    return s


def scope_prefix(scope: str) -> str:
    # A scope is a utility, branch or field id; its meters are under "ix/<scope>/".
    require(isinstance(scope, str), f"scope: a utility, branch or field id expected, found {shape(scope)}")
    known = storage_has(storage_key("u/", [scope])) or storage_has(storage_key("b/", [scope])) or storage_has(storage_key("f/", [scope]))
    require(known, f"scope: a registered utility, branch or field id expected, found '{scope}'")
    return storage_key("ix/", [scope, ""])
