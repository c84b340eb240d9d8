"""Meter adapter throughput: DSMR v5 telegrams parsed per second, IEC 62056-21 readouts
parsed per second (a typical one, and an adversarial one of the maximum size: a single run
of address characters, which the earlier backtracking pattern took about 75 s to refuse),
readings signed into reading transactions per second (beside the raw
Ed25519 sign rate of the same machine, measured in the same run), NFC signed readings
parsed and verified per second, and the M-Bus frame parse rate when that adapter exists.

A plain script: ``.venv/bin/python bench/bench_adapters.py``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import nacl.signing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chain.types import Height, Nonce  # noqa: E402
from meter_adapters.dsmr import parse_dsmr  # noqa: E402
from meter_adapters.errors import UnsupportedFrame  # noqa: E402
from meter_adapters.iec62056_21 import MAX_READOUT, bcc, parse_iec62056_21  # noqa: E402
from meter_adapters.signed_reading import (  # noqa: E402
    encode_signed_reading,
    meter_public_key,
    parse_signed_reading,
    sign_reading,
)
from meter_adapters.simulator import MeterState, advance, iec_readout  # noqa: E402
from wallet.reading_transactions import TxParams, reading_transaction  # noqa: E402


def show(label: str, per_second: float, note: str = "") -> None:
    print(f"{label:<58}{per_second:>10,.0f} /s" + (f"   ({note})" if note else ""))


def rate(fn: Callable[[], object], seconds: float = 1.0) -> float:
    """Calls per second of ``fn`` over about ``seconds``."""
    fn()  # warm up
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            fn()
        count += 20
    return count / (time.perf_counter() - start)


def adversarial_readout() -> bytes:
    """A framed readout of MAX_READOUT bytes whose data block is one run of address
    characters with no field: the worst case for a backtracking data-set pattern."""
    head = b"/ABC5TEST\r\n\x02"
    tail = b"!\r\n\x03"
    body = b"1" * (MAX_READOUT - len(head) - len(tail) - 1)
    return head + body + tail + bytes([bcc(body + tail)])


def refused(readout: bytes) -> None:
    try:
        parse_iec62056_21(readout)
    except UnsupportedFrame:
        return
    raise AssertionError("the adversarial readout must be refused")


def main() -> None:
    telegram = (ROOT / "tests" / "fixtures" / "dsmr_p1" / "v5.p1").read_bytes()
    readings = parse_dsmr(telegram)
    register = next(r for r in readings if r.obis == "1-0:1.8.1")
    readout = iec_readout(advance(MeterState(), 60))
    params = TxParams("meterchain-bench", bytes([7]) * 32, Nonce(0), Height(1000))
    assert register.timestamp is not None

    def consumer_tx() -> None:
        reading_transaction(
            params,
            register.meter,
            register.register,
            register.timestamp,
            register.value,
            register.raw_hash,
        )

    def metered_tx() -> None:
        signed = sign_reading(
            meter_seed,
            register.meter,
            register.register,
            register.value,
            register.unit,
            register.timestamp,
        )
        reading_transaction(
            params,
            register.meter,
            register.register,
            register.timestamp,
            register.value,
            register.raw_hash,
            "meter",
            signed.signature,
        )

    meter_seed = bytes([9]) * 32
    key = nacl.signing.SigningKey(bytes([5]) * 32)
    message = b"x" * 120
    nfc = encode_signed_reading(
        sign_reading(meter_seed, "SN1", "1-0:1.8.0", 123456, "Wh", 1_700_000_000)
    )
    meter_key = meter_public_key(meter_seed)

    print(f"python {sys.version.split()[0]}; each figure is a 1 s run on one core")
    show(
        f"DSMR v5 telegram ({len(telegram)} B, {len(readings)} readings) parsed",
        rate(lambda: parse_dsmr(telegram)),
    )
    show(
        f"IEC 62056-21 readout ({len(readout)} B) parsed", rate(lambda: parse_iec62056_21(readout))
    )
    adversarial = adversarial_readout()
    adversarial_rate = rate(lambda: refused(adversarial))
    show(
        f"IEC 62056-21 adversarial readout ({len(adversarial)} B) refused",
        adversarial_rate,
        f"{1000 / adversarial_rate:.2f} ms each",
    )
    raw = rate(lambda: key.sign(message))
    show("raw Ed25519 sign (nacl, 120 B)", raw)
    consumer = rate(consumer_tx)
    show(
        "reading -> signed transaction (consumer: 1 signature)",
        consumer,
        f"{consumer / raw:.0%} of raw sign",
    )
    metered = rate(metered_tx)
    show(
        "reading -> signed transaction (meter + sender: 2 sigs)",
        metered,
        f"{2 * metered / raw:.0%} of raw sign per sig",
    )
    show(
        f"NFC signed reading ({len(nfc)} B) parsed and verified",
        rate(lambda: parse_signed_reading(nfc, meter_key)),
    )

    try:
        from meter_adapters.mbus import parse_mbus
    except ImportError:
        print("M-Bus: meter_adapters.mbus not present, skipped")
        return
    frame_file = (
        ROOT.parent / "shared" / "fixtures" / "mbus_wired" / "libmbus_test_frames" / "EDC.hex"
    )
    if not frame_file.exists():
        print(f"M-Bus: {frame_file} not present, skipped")
        return
    frame = bytes.fromhex("".join(frame_file.read_text().split()))
    show(f"M-Bus long frame ({len(frame)} B, EDC) parsed", rate(lambda: parse_mbus(frame)))


if __name__ == "__main__":
    main()
