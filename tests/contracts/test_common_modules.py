"""The modules every contract shares (contracts/common), run through the real compiler and VM.

``storage_key`` builds every key of the four contracts; these vectors are the bytes the
contracts wrote before the helper existed (docs/contracts.md, "Storage keys"), so a chain's
state keeps its keys.
"""

from __future__ import annotations

from typing import Any

import pytest

from node.localchain import LocalChain, ViewError

PROBE = '''
from common.keys import scope_key, storage_key
from common.text import pad, shape


@public
def init() -> None:
    pass


@view
def key(kind: str, parts: list) -> str:
    return storage_key(kind, parts)


@view
def scoped(kind: str, scope: str, suffix: str) -> str:
    return scope_key(kind, scope, suffix)


@view
def padded(n: int, width: int) -> str:
    return pad(n, width)


@view
def described(value) -> str:
    return shape(value)
'''


@pytest.fixture(scope="module")
def chain() -> LocalChain:
    return LocalChain.genesis(contracts=("probe",), sources={"probe": PROBE})


KEYS = [
    ("ms/", ["MTR-A"], "ms/MTR-A"),
    ("rd/", ["MTR-A", "000000000012"], "rd/MTR-A/000000000012"),
    ("r/", ["ELEC", "admin", "ab01"], "r/ELEC/admin/ab01"),
    ("ix/", ["ELEC/KADIKOY", ""], "ix/ELEC/KADIKOY/"),
    ("pay:", ["PAY-0000000001"], "pay:PAY-0000000001"),
    ("comm:", ["ELEC", "ab01"], "comm:ELEC:ab01"),
    ("recon-id:", ["ab01", "20089", ""], "recon-id:ab01:20089:"),
]


@pytest.mark.parametrize(("kind", "parts", "expected"), KEYS)
def test_storage_key_is_the_kind_then_its_parts_joined_by_the_kind_s_separator(
    chain: LocalChain, kind: str, parts: list[str], expected: str
) -> None:
    assert chain.view("probe", "key", [kind, parts]) == expected


def test_scope_key_closes_the_scope_with_a_hash(chain: LocalChain) -> None:
    assert chain.view("probe", "scoped", ["tot/", "ELEC/KADIKOY", "00020089"]) == "tot/ELEC/KADIKOY#00020089"
    assert chain.view("probe", "scoped", ["a/", "ELEC", ""]) == "a/ELEC#"


def test_invalid_storage_key_part_that_is_not_text(chain: LocalChain) -> None:
    with pytest.raises(ViewError):
        chain.view("probe", "key", ["ms/", [12]])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"\x01" * 31, "31 bytes"),
        ("free", "text 'free'"),
        (0, "the integer 0"),
        (True, "a bool"),
        (None, "None"),
        ([1, 2], "a list of 2 items"),
        ({"a": 1}, "a dict of 1 entries"),
    ],
)
def test_shape_describes_a_bad_argument(chain: LocalChain, value: Any, expected: str) -> None:
    assert chain.view("probe", "described", [value]) == expected


def test_pad_sorts_numbers_as_text(chain: LocalChain) -> None:
    assert chain.view("probe", "padded", [42, 6]) == "000042"
    assert chain.view("probe", "padded", [1234567, 6]) == "1234567"  # never truncated
