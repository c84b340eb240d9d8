"""Checks of the registry's inputs: accounts, ids, free text and bounded integers.

A contract module (docs/contract-language.md, "Modules"): compiled into the registry contract,
never imported as Python.
"""

from common.text import shape

MAX_ID_LEN = 64
MAX_TEXT_LEN = 256


def require_account(account: bytes, what: str) -> None:
    ok = isinstance(account, bytes) and len(account) == 32
    require(ok, f"{what}: a 32-byte public key expected, found {shape(account)}")


def require_id(value, what: str, allow_slash: bool) -> None:
    require(isinstance(value, str), f"{what}: text expected, found {shape(value)}")
    n = len(value)
    require(0 < n and n <= MAX_ID_LEN, f"{what}: 1 to {MAX_ID_LEN} characters expected, found {n}")
    if not allow_slash:
        require("/" not in value, f"{what}: no '/' expected, found '{value}'")
    require(" " not in value, f"{what}: no spaces expected, found '{value}'")
    require("#" not in value, f"{what}: no '#' expected, found '{value}'")


def require_text(value, what: str) -> None:
    require(isinstance(value, str), f"{what}: text expected, found {shape(value)}")
    n = len(value)
    require(n <= MAX_TEXT_LEN, f"{what}: at most {MAX_TEXT_LEN} characters expected, found {n}")


def require_int(value, what: str, low: int, high: int) -> None:
    # Inclusive bounds; bool is not an int in the VM, so True is refused here too.
    require(isinstance(value, int), f"{what}: an integer expected, found {shape(value)}")
    require(low <= value and value <= high, f"{what}: {low} to {high} expected, found {value}")
