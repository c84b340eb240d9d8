"""Simulated meters: deterministic, registers that only grow, frames our parsers (and
dsmr-parser) accept, served over a pty and over TCP."""

from __future__ import annotations

import itertools
import time

import pytest
import serial
from dsmr_parser import telegram_specifications as specs
from dsmr_parser.parsers import TelegramParser

from meter_adapters.dsmr import parse_dsmr
from meter_adapters.iec62056_21 import parse_iec62056_21
from meter_adapters.serial_io import open_port, read_dsmr_telegram, read_iec_readout, read_port
from meter_adapters.simulator import (
    MeterState,
    PtyMeter,
    TcpMeter,
    advance,
    dsmr_telegram,
    iec_readout,
)
from tests.adapters.conftest import one


def states(n: int, step: int = 600, seed: int = 1) -> list[MeterState]:
    out = [MeterState(seed=seed)]
    for _ in range(n):
        out.append(advance(out[-1], step))
    return out


def test_basic_deterministic_and_seeded() -> None:
    assert states(20) == states(20)
    assert states(20)[-1] != states(20, seed=2)[-1]
    assert dsmr_telegram(states(3)[-1]) == dsmr_telegram(states(3)[-1])


def test_basic_registers_increase_over_a_day() -> None:
    day = states(24 * 6)  # every 10 minutes for 24 hours
    totals = [parse_dsmr(dsmr_telegram(s)) for s in day[1:]]
    imports = [one(r, "1-0:1.8.1").value + one(r, "1-0:1.8.2").value for r in totals]
    gas = [one(r, "0-1:24.2.1").value for r in totals]
    assert all(b >= a for a, b in itertools.pairwise(imports))
    assert imports[-1] > imports[0]
    assert all(b >= a for a, b in itertools.pairwise(gas)) and gas[-1] > gas[0]
    # Both tariffs advanced (night and day), and the time stamps follow the clock.
    assert one(totals[-1], "1-0:1.8.1").value > one(totals[0], "1-0:1.8.1").value
    assert one(totals[-1], "1-0:1.8.2").value > one(totals[0], "1-0:1.8.2").value
    assert one(totals[-1], "1-0:1.8.1").timestamp == day[-1].time
    assert one(totals[-1], "0-1:24.2.1").timestamp == day[-1].gas_time


def test_basic_energy_is_the_integral_of_the_load() -> None:
    s0 = MeterState()
    s1 = advance(s0, 3600)
    added = (s1.import_t1_ws + s1.import_t2_ws) - (s0.import_t1_ws + s0.import_t2_ws)
    assert added == s1.power_w * 3600


def test_basic_dsmr_parser_accepts_the_simulated_telegram() -> None:
    telegram = dsmr_telegram(states(5)[-1])
    parsed = TelegramParser(specs.V5).parse(telegram.decode("latin-1"))  # validates the CRC
    ours = parse_dsmr(telegram)
    assert int(parsed.ELECTRICITY_USED_TARIFF_2.value * 1000) == one(ours, "1-0:1.8.2").value
    assert one(ours, "1-0:1.8.2").meter == "SIM0000000000001"


def test_basic_iec_readout_has_a_valid_bcc_and_time() -> None:
    s = states(2)[-1]
    readings = parse_iec62056_21(iec_readout(s))
    assert one(readings, "1-0:1.8.0").value == (s.import_t1_ws + s.import_t2_ws) // 3600
    assert one(readings, "1-0:1.8.0").timestamp == s.time


def test_basic_pty_dsmr_pushes_increasing_telegrams() -> None:
    with PtyMeter("dsmr", interval=0.1) as meter:
        port = open_port(meter.device, "dsmr")
        try:
            frames = [read_dsmr_telegram(port, timeout=5) for _ in range(3)]
        finally:
            port.close()
    values = [one(parse_dsmr(f), "1-0:1.7.0").timestamp for f in frames]
    assert values == sorted(values) and len(set(values)) == 3


def test_basic_tcp_iec_dialog_twice() -> None:
    with TcpMeter("iec62056-21") as meter:
        first = parse_iec62056_21(read_port(meter.url, "iec62056-21", timeout=5))
        second = parse_iec62056_21(read_port(meter.url, "iec62056-21", timeout=5))
    assert one(second, "1-0:1.8.0").timestamp > one(first, "1-0:1.8.0").timestamp
    assert one(second, "1-0:1.8.0").value >= one(first, "1-0:1.8.0").value


def test_basic_iec_dialog_sends_ack_with_the_offered_speed() -> None:
    with TcpMeter("iec62056-21") as meter:
        sock = serial.serial_for_url(meter.url, timeout=0.1)
        written: list[bytes] = []

        class Spy:
            def read(self, size: int = 1) -> bytes:
                return sock.read(size)

            def write(self, data: bytes) -> int | None:
                written.append(data)
                return sock.write(data)

        try:
            frame = read_iec_readout(Spy(), timeout=5)
        finally:
            sock.close()
    assert written == [b"/?!\r\n", b"\x060" + b"5" + b"0\r\n"]  # '5' = 9600 baud offered
    assert parse_iec62056_21(frame)


def test_invalid_format_and_stop_is_prompt() -> None:
    with pytest.raises(ValueError, match="format one of dsmr, iec62056-21 expected"):
        TcpMeter("mbus")
    meter = TcpMeter("dsmr", interval=0.05)
    meter.start()
    started = time.monotonic()
    meter.stop()
    assert time.monotonic() - started < 2
