"""Simulated meters that speak the real formats, for the network demo and the tests.

``MeterState`` is a frozen record of a household's registers; ``advance`` is a pure,
deterministic step (the load follows a seeded daily curve, tariff 1 at night and tariff 2
by day, gas by the hour), so the same seed gives the same telegrams on every machine.
``dsmr_telegram`` renders a DSMR 5.0 telegram with its CRC16 and ``iec_readout`` an
IEC 62056-21 mode C readout with its BCC, both through the same builders the parsers'
tests use.

Two transports put them on the wire:

- ``PtyMeter``: a pseudo-terminal (``os.openpty``) in raw mode; ``device`` is the path a
  reader opens like a serial port (``meterchain read dsmr --port /dev/pts/7``).
- ``TcpMeter``: a TCP server on 127.0.0.1; readers open ``socket://127.0.0.1:PORT``.

A DSMR meter pushes a telegram every ``interval`` seconds; an IEC meter waits for the
request ``/?!`` CR LF, answers its identification, waits briefly for the ACK and sends
its readout. Both are threads with an explicit ``start()`` and ``stop()`` (and are context
managers); each telegram advances the simulated clock by ``interval`` seconds.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import select
import socket
import struct
import termios
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final
from zoneinfo import ZoneInfo

from meter_adapters.dsmr import build_telegram
from meter_adapters.iec62056_21 import build_readout

ZONE: Final = ZoneInfo("Europe/Amsterdam")
FORMATS: Final = ("dsmr", "iec62056-21")
STALE_BYTES: Final = 4096  # unread bytes on the pty after which old frames are dropped


# --- the meter ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MeterState:
    """Registers of one simulated household meter (with an M-Bus gas meter)."""

    serial: str = "SIM0000000000001"
    gas_serial: str = "SIMGAS0000000001"
    time: int = 1_700_000_000  # unix seconds of the last reading
    import_t1_ws: int = 1_234_567 * 3600  # energy in watt-seconds: whole Wh never drift
    import_t2_ws: int = 2_345_678 * 3600
    export_t1_ws: int = 12_345 * 3600
    export_t2_ws: int = 23_456 * 3600
    gas_dm3: int = 4_567_890
    gas_time: int = 1_700_000_000 - 1_700_000_000 % 3600
    power_w: int = 0  # current import power
    seed: int = 1


def _noise(seed: int, t: int, salt: str) -> int:
    """A deterministic pseudo-random integer in [0, 1000) for instant ``t``."""
    digest = hashlib.sha256(f"{seed}:{t}:{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 1000


def load_watts(seed: int, t: int) -> int:
    """Household load: a base, a morning and an evening peak, and noise."""
    hour = datetime.fromtimestamp(t, ZONE).hour
    base = 180 + (900 if 7 <= hour < 9 else 0) + (1500 if 18 <= hour < 22 else 0)
    return base + _noise(seed, t, "load")


def advance(state: MeterState, seconds: int) -> MeterState:
    """The meter ``seconds`` later: energy integrates the load on the tariff of the hour
    (tariff 1 from 23:00 to 07:00 local, tariff 2 otherwise); the gas meter reports once
    an hour with its hourly consumption."""
    if seconds < 0:
        raise ValueError(f"a non-negative step expected, found {seconds}")
    now = state.time + seconds
    power = load_watts(state.seed, now)
    energy = power * seconds
    hour = datetime.fromtimestamp(now, ZONE).hour
    night = hour >= 23 or hour < 7
    gas, gas_time = state.gas_dm3, state.gas_time
    while gas_time + 3600 <= now:
        gas_time += 3600
        gas += 50 + _noise(state.seed, gas_time, "gas") // 2
    return replace(
        state,
        time=now,
        power_w=power,
        import_t1_ws=state.import_t1_ws + (energy if night else 0),
        import_t2_ws=state.import_t2_ws + (0 if night else energy),
        gas_dm3=gas,
        gas_time=gas_time,
    )


def _dsmr_time(t: int) -> str:
    local = datetime.fromtimestamp(t, ZONE)
    return local.strftime("%y%m%d%H%M%S") + ("S" if local.dst() else "W")


def _kwh(ws: int) -> str:
    wh = ws // 3600
    return f"{wh // 1000:06d}.{wh % 1000:03d}"


def dsmr_telegram(state: MeterState) -> bytes:
    """A DSMR 5.0 telegram of ``state`` with a correct CRC16."""
    tariff = (
        "0001"
        if datetime.fromtimestamp(state.time, ZONE).hour in (23, 0, 1, 2, 3, 4, 5, 6)
        else "0002"
    )
    kw = f"{state.power_w // 1000:02d}.{state.power_w % 1000:03d}"
    lines = [
        "1-3:0.2.8(50)",
        f"0-0:1.0.0({_dsmr_time(state.time)})",
        f"0-0:96.1.1({state.serial.encode().hex().upper()})",
        f"1-0:1.8.1({_kwh(state.import_t1_ws)}*kWh)",
        f"1-0:1.8.2({_kwh(state.import_t2_ws)}*kWh)",
        f"1-0:2.8.1({_kwh(state.export_t1_ws)}*kWh)",
        f"1-0:2.8.2({_kwh(state.export_t2_ws)}*kWh)",
        f"0-0:96.14.0({tariff})",
        f"1-0:1.7.0({kw}*kW)",
        "1-0:2.7.0(00.000*kW)",
        "0-0:96.7.21(00003)",
        "0-0:96.7.9(00001)",
        "1-0:32.7.0(230.1*V)",
        f"1-0:31.7.0({state.power_w // 230:03d}*A)",
        f"1-0:21.7.0({kw}*kW)",
        "0-1:24.1.0(003)",
        f"0-1:96.1.0({state.gas_serial.encode().hex().upper()})",
        f"0-1:24.2.1({_dsmr_time(state.gas_time)})({state.gas_dm3 // 1000:05d}.{state.gas_dm3 % 1000:03d}*m3)",
    ]
    return build_telegram("SIM5\\2SIMULATED-DSMR5", lines)


def iec_readout(state: MeterState) -> bytes:
    """An IEC 62056-21 mode C readout of ``state``: the identification line, then STX, the
    data sets, ! CR LF, ETX and a correct BCC. Its clock (0.9.1, 0.9.2) runs in UTC."""
    utc = datetime.fromtimestamp(state.time, ZoneInfo("UTC"))
    return build_readout(
        "SIM5SIMULATED-D0",
        [
            "F.F(00000000)",
            f"C.1.0({state.serial})",
            f"0.9.1({utc:%H%M%S})",
            f"0.9.2(1{utc:%y%m%d})",
            f"1.8.0({_kwh(state.import_t1_ws + state.import_t2_ws)}*kWh)",
            f"1.8.1({_kwh(state.import_t1_ws)}*kWh)",
            f"1.8.2({_kwh(state.import_t2_ws)}*kWh)",
            f"2.8.0({_kwh(state.export_t1_ws + state.export_t2_ws)}*kWh)",
            "32.7.0(230.1*V)",
        ],
    )


# --- transports ---------------------------------------------------------------------------


class _SimulatedMeterBase:
    """The meter's behaviour on a byte channel, shared by the pty and TCP transports."""

    def __init__(self, fmt: str, state: MeterState | None = None, interval: float = 1.0) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format one of {', '.join(FORMATS)} expected, found {fmt!r}")
        self.fmt = fmt
        self.interval = interval
        self._state = state or MeterState()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.sent: list[bytes] = []  # every frame sent, for tests and the demo log

    @property
    def state(self) -> MeterState:
        with self._lock:
            return self._state

    def next_frame(self) -> bytes:
        """Advance the simulated clock by one interval and render the frame."""
        with self._lock:
            self._state = advance(self._state, max(1, round(self.interval)))
            frame = dsmr_telegram(self._state) if self.fmt == "dsmr" else iec_readout(self._state)
            self.sent.append(frame)
            return frame

    def _serve(
        self, read: Callable[[float], bytes | None], write: Callable[[bytes], object]
    ) -> None:
        """Run the meter on one channel until stopped or the peer goes away.

        ``read(timeout)`` returns bytes (b"" on timeout, None when closed); ``write(data)``
        sends."""
        try:
            if self.fmt == "dsmr":
                while not self._stop.is_set():
                    write(self.next_frame())
                    self._stop.wait(self.interval)
            else:
                buffer = b""
                while not self._stop.is_set():
                    chunk = read(0.1)
                    if chunk is None:
                        return
                    buffer += chunk
                    if b"/?!\r\n" in buffer:
                        buffer = b""
                        frame = self.next_frame()
                        ident_end = frame.index(b"\n") + 1
                        write(frame[:ident_end])
                        # Mode C: wait (up to 1.5 s, the standard's limit) for ACK 0 Z 0.
                        ack = b""
                        for _ in range(15):
                            got = read(0.1)
                            if got is None:
                                return
                            ack += got
                            if ack.endswith(b"\r\n"):
                                break
                        write(frame[ident_end:])
        except OSError:
            return  # the reader went away

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def __enter__(self) -> _SimulatedMeterBase:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError


class PtyMeter(_SimulatedMeterBase):
    """A simulated meter on a pseudo-terminal; read it at ``self.device``."""

    def __init__(self, fmt: str, state: MeterState | None = None, interval: float = 1.0) -> None:
        super().__init__(fmt, state, interval)
        self._master, self._slave = os.openpty()
        # Raw mode on the reader's side: no echo, no CR/LF translation, 8-bit clean, as a
        # real serial line delivers bytes.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.device = os.ttyname(self._slave)

    def _read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self._master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._master, 4096)
        except OSError:
            return None

    def _write(self, data: bytes) -> None:
        # A P1 port transmits whether or not anyone listens; a pty instead buffers and,
        # once full, would block the meter. When frames pile up unread (no reader), drop
        # them, as a serial line would, so a reader that connects later gets fresh ones.
        pending = struct.unpack("i", fcntl.ioctl(self._slave, termios.FIONREAD, b"\0\0\0\0"))[0]
        if pending > STALE_BYTES:
            termios.tcflush(self._slave, termios.TCIFLUSH)
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # the line is full: this frame is lost, like on a real serial line

    def start(self) -> None:
        thread = threading.Thread(target=self._serve, args=(self._read, self._write), daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        super().stop()
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass


class TcpMeter(_SimulatedMeterBase):
    """A simulated meter behind a TCP port on 127.0.0.1 (``socket://127.0.0.1:PORT``);
    every connection gets its own session of the same meter."""

    def __init__(
        self, fmt: str, state: MeterState | None = None, interval: float = 1.0, port: int = 0
    ) -> None:
        super().__init__(fmt, state, interval)
        self._server = socket.create_server(("127.0.0.1", port))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._session, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _session(self, conn: socket.socket) -> None:
        def read(timeout: float) -> bytes | None:
            conn.settimeout(timeout)
            try:
                data = conn.recv(4096)
            except TimeoutError:
                return b""
            return data if data else None

        with conn:
            self._serve(read, conn.sendall)

    def start(self) -> None:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._threads.append(thread)
        thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
        super().stop()
