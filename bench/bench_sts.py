"""STS token throughput: decoder key derivation, token encryption and decryption, vending.

A plain script: prints figures, asserts nothing about speed.
Run: .venv/bin/python bench/bench_sts.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from meter_adapters.sts.dkga02 import KeyParameters, MeterPan, derive_decoder_key
from meter_adapters.sts.tid import BaseDate
from meter_adapters.sts.token import CreditSubclass, TokenData, decode_token, encode_token
from utility_services.sts_vending import JsonFileTidStore, MemoryTidStore, Meter, Vendor

VENDING_KEY = bytes.fromhex("abababababababab")
METER = Meter(MeterPan("600727000000000009"), KeyParameters(2, "123456", 1, 1), BaseDate.Y2014)
START = datetime(2026, 1, 1, tzinfo=UTC)


def rate(name: str, count: int, step: Callable[[int], object]) -> None:
    began = time.perf_counter()
    for i in range(count):
        step(i)
    elapsed = time.perf_counter() - began
    print(f"{name:44} {count / elapsed:10,.0f} /s   ({elapsed * 1e6 / count:7.1f} us each)")


def main() -> None:
    key = derive_decoder_key(VENDING_KEY, METER.key, METER.pan)
    data = TokenData.with_tid(0, 0, 5, 1234567, 0x000A)
    token = encode_token(data, key)
    rate("DKGA02 decoder key derivation", 5000,
         lambda i: derive_decoder_key(VENDING_KEY, METER.key, METER.pan))  # fmt: skip
    rate("encode token (CRC + EA07)", 5000, lambda i: encode_token(data, key))
    rate("decode token (EA07 + CRC)", 5000, lambda i: decode_token(token, key))
    vendor = Vendor(VENDING_KEY, MemoryTidStore())
    rate("vend credit, in-memory TID store", 3000,
         lambda i: vendor.credit(METER, CreditSubclass.ELECTRICITY, 100,
                                 START + timedelta(minutes=i)))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        store = JsonFileTidStore(Path(folder) / "tids.json")
        durable = Vendor(VENDING_KEY, store)
        rate("vend credit, JSON file store (fsync each)", 200,
             lambda i: durable.credit(METER, CreditSubclass.ELECTRICITY, 100,
                                      START + timedelta(minutes=i)))  # fmt: skip


if __name__ == "__main__":
    main()
