"""Fuzzing of every ``meterchain`` command that reads a file (issue 9, item 12).

Each command gets mutated copies of real inputs (``tests/cli/mutate.py``) from a fixed seed,
so CI runs the same cases every time. The only acceptable outcomes: success, or exit status
1 or 2 with a single ``error: ...`` line on stderr; never an exception (which CliRunner
would catch and report as exit status 1 with ``result.exception`` set), never a traceback.

The budget is small on purpose (a few seconds for the whole module on 2 cores);
``FUZZ_SCALE=50 pytest tests/cli/test_fuzz_commands.py`` runs fifty times as many cases and
``FUZZ_SEED`` draws others, for a longer hunt. A failure names the seed, the case and the
input, which reproduce it.
"""

from __future__ import annotations

import json
import os
import random
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
import typer
from click.testing import CliRunner, Result

from meter_adapters.crc16 import ARC as crc16_arc
from meter_adapters.signed_reading import encode_signed_reading, meter_public_key, sign_reading
from meter_adapters.simulator import MeterState, dsmr_telegram, iec_readout
from meterchain.cli import app
from tests.cli.mutate import mutations

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = REPO / "examples"
SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
runner = CliRunner()
# The click command typer builds from the app, built once and run by click's CliRunner:
# typer's CliRunner.invoke(app) rebuilds it for every case, which costs more than most cases.
COMMAND = typer.main.get_command(app)

# Keys of the keyed seeds: the wM-Bus mode 5 frame of pymeterbus, the OMS profile B example
# (mode 7, key 00..0F), the NFC reading signed by a test meter.
NFC_SEED = bytes(range(32))
OMS_KEY = bytes(range(16)).hex()


Run = Callable[[Path, bytes, list[str]], Result]


@dataclass(frozen=True)
class Target:
    """A command, the real inputs it is fuzzed from, and how a mutated input is run."""

    name: str
    cases: int  # at FUZZ_SCALE=1
    kind: str  # the mutator's structured edits: "bytes", "json" or "csv"
    seeds: Callable[[], list[bytes]]
    run: Run
    # Extra arguments, one set drawn per case (keys, --relaxed-bcc, periods).
    variants: tuple[tuple[str, ...], ...] = ((),)
    # Recomputes a checksum after the mutation (half of the cases), so that the mutated
    # bytes reach the parser behind it instead of all stopping at the checksum.
    repair: Callable[[bytes], bytes] | None = None


def _invoke(args: list[str]) -> Result:
    return runner.invoke(COMMAND, args)


def _hex_frames(path: Path) -> list[bytes]:
    return [bytes.fromhex(frame["hex"]) for frame in json.loads(path.read_text())["frames"]]


def _read(fmt: str) -> Run:
    def run(tmp: Path, data: bytes, extra: list[str]) -> Result:
        capture = tmp / "capture"
        capture.write_bytes(data)
        return _invoke(["read", fmt, "--file", str(capture), *extra])

    return run


def _dsmr_crc(data: bytes) -> bytes:
    """The last telegram's CRC recomputed over its '/' .. '!'."""
    bang = data.rfind(b"!")
    start = data.rfind(b"/", 0, bang)
    if bang < 0 or start < 0:
        return data
    return data[: bang + 1] + f"{crc16_arc(data[start : bang + 1]):04X}".encode() + b"\r\n"


def _mbus_checksum(data: bytes) -> bytes:
    """A long frame's L fields and checksum recomputed for its (mutated) body."""
    if len(data) < 6 or data[0] != 0x68:
        return data
    body = data[4:-2][:255]
    return bytes([0x68, len(body), len(body), 0x68]) + body + bytes([sum(body) & 0xFF, 0x16])


def _dsmr_seeds() -> list[bytes]:
    return [path.read_bytes() for path in sorted((FIXTURES / "dsmr_p1").glob("*.p1"))] + [dsmr_telegram(MeterState())]


def _iec_seeds() -> list[bytes]:
    # The GPL captures live outside the repository; the simulator's readout is a real one.
    return [iec_readout(MeterState()), iec_readout(MeterState(serial="X" * 40, time=4_000_000_000))]


def _mbus_seeds() -> list[bytes]:
    # Two libmbus frames hold no physical quantity (refused whole): they seed nothing more.
    libmbus = [p for p in sorted((FIXTURES / "mbus" / "libmbus").glob("*.hex")) if p.stem not in ("frame1", "siemens_rvd235")]
    frames = [bytes.fromhex(path.read_text()) for path in libmbus]
    return frames + [path.read_bytes() for path in libmbus[:3]]  # raw, and as hex text


def _wmbus_seeds() -> list[bytes]:
    weptech, mode5 = _hex_frames(FIXTURES / "mbus" / "pymeterbus_test_frames.json")[1:3]
    # The wired Weptech frame's records sent by radio, unencrypted: L C M A, CI 72 and the
    # long header (identification, manufacturer, version, medium) it already holds.
    header, records = weptech[7:19], weptech[7:-2]
    plain = b"\x44" + header[4:6] + header[0:4] + header[6:8] + b"\x72" + records
    oms_profile_b = bytes.fromhex(
        "434493157856341233038C2075900F002C25B30A000021924D4F2FB66E017A75002007109058475F4BC91D"
        "F878B80A1B0F98B629024AAC727942BFC549233C0140829B93"
    )
    return [bytes([len(plain)]) + plain, mode5, oms_profile_b]


def _wmbus_length(data: bytes) -> bytes:
    """The L field set to the (mutated) telegram's length."""
    return bytes([min(len(data) - 1, 255)]) + data[1:256] if data else data


def _dlms_seeds() -> list[bytes]:
    # The APDUs (LLC header E6 E7 00, then the xDLMS tag); the file's HDLC frame contents
    # are read by other tests.
    return [f for f in _hex_frames(FIXTURES / "dlms" / "han_push_frames.json") if f.startswith(b"\xe6\xe7\x00")]


def _nfc_seeds() -> list[bytes]:
    signed = sign_reading(NFC_SEED, "ELS-12345678", "1-0:1.8.0", 1_234_567, "Wh", 1_750_000_000)
    return [encode_signed_reading(signed)]


READINGS = b"meter,timestamp,index\nM1,2025-01-01T00:00:00Z,1\nM2,2025-01-01,7\nM1,2025-01-20T00:00:00Z,300\nM2,1738540800,900\n"


def _simulate_tariff(tmp: Path, data: bytes, extra: list[str]) -> Result:
    (tmp / "tariff.json").write_bytes(data)
    (tmp / "readings.csv").write_bytes(READINGS)
    return _invoke(["billing", "simulate", "--tariff", str(tmp / "tariff.json"),
                    "--readings", str(tmp / "readings.csv"), *extra])  # fmt: skip


def _simulate_readings(tmp: Path, data: bytes, extra: list[str]) -> Result:
    (tmp / "readings.csv").write_bytes(data)
    return _invoke(["billing", "simulate", "--tariff", str(EXAMPLES / "tariff_flat.json"),
                    "--readings", str(tmp / "readings.csv"), *extra])  # fmt: skip


def _compile(tmp: Path, data: bytes, extra: list[str]) -> Result:
    (tmp / "contract.py").write_bytes(data)
    return _invoke(["contract", "compile", str(tmp / "contract.py"), *extra])


@cache
def _bytecode() -> bytes:
    from vm import compile_source

    return compile_source((EXAMPLES / "contracts" / "meter_counter.py").read_text(), "meter_counter.py").code


def _disasm(tmp: Path, data: bytes, extra: list[str]) -> Result:
    (tmp / "contract.bin").write_bytes(data)
    return _invoke(["contract", "disasm", "--bytecode", str(tmp / "contract.bin"), *extra])


def _tid_store(tmp: Path, data: bytes, extra: list[str]) -> Result:
    (tmp / "tids.json").write_bytes(data)
    return _invoke([
        "sts", "token", "--vending-key", "abababababababab", "--key-type", "2", "--supply-group", "123456",
        "--tariff-index", "1", "--key-revision", "1", "--pan", "600727000000000009", "--subclass", "electricity",
        "--amount", "1", "--issued", "2025-01-01T00:00:00", "--base-date", "2014", "--random", "5",
        "--tid-store", str(tmp / "tids.json"),
    ])  # fmt: skip


TARGETS = [
    Target("read dsmr", 150, "bytes", _dsmr_seeds, _read("dsmr"), repair=_dsmr_crc),
    Target("read iec62056-21", 150, "bytes", _iec_seeds, _read("iec62056-21"), ((), ("--relaxed-bcc",))),
    Target("read mbus", 150, "bytes", _mbus_seeds, _read("mbus"), repair=_mbus_checksum),
    Target("read wmbus", 150, "bytes", _wmbus_seeds, _read("wmbus"),
           ((), ("--key", OMS_KEY), ("--key", "cb6abfaa8d2247b59127d3b839cf34b4")), _wmbus_length),
    Target("read dlms", 150, "bytes", _dlms_seeds, _read("dlms")),
    Target("read nfc", 100, "bytes", _nfc_seeds, _read("nfc"), ((), ("--key", meter_public_key(NFC_SEED).hex()))),
    Target("billing simulate --tariff", 16, "json", lambda: [(EXAMPLES / "tariff_flat.json").read_bytes()],
           _simulate_tariff, (("--period", "monthly"), ("--period", "daily"), ("--period", "none"))),
    Target("billing simulate --readings", 16, "csv", lambda: [READINGS], _simulate_readings,
           (("--period", "monthly", "--json"), ("--period", "daily"), ("--period", "yearly"))),
    Target("contract compile", 60, "bytes", lambda: [(EXAMPLES / "contracts" / "meter_counter.py").read_bytes()],
           _compile, ((), ("--json",))),
    Target("contract disasm --bytecode", 80, "bytes", lambda: [_bytecode()], _disasm, ((), ("--python",))),
    Target("sts token --tid-store", 40, "json",
           lambda: [b'{"issued": {"600727000000000009/2014": [5785920, 5785921]}, "version": 1}'], _tid_store),
]  # fmt: skip


def assert_clean_outcome(result: Result, where: str) -> None:
    if result.exit_code == 0 and result.exception is None:
        return
    assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), (
        f"{where}: success or a refusal expected, found exit {result.exit_code} with "
        f"{result.exception!r}:\n{''.join(traceback.format_exception(*result.exc_info)) if result.exc_info else ''}"
    )
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{where}: one 'error: ...' line expected, found {result.stderr!r}"


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_command_reading_a_file(target: Target, tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}:{target.name}")
    seeds = target.seeds()
    assert seeds and all(seeds)
    accepted = 0
    for case, data in enumerate(mutations(seeds, rng, target.cases * SCALE, target.kind)):
        if target.repair is not None and rng.random() < 0.5:
            data = target.repair(data)
        extra = list(rng.choice(target.variants))
        result = target.run(tmp_path, data, extra)
        shown = data[:200].hex() + ("..." if len(data) > 200 else "")
        assert_clean_outcome(result, f"{target.name} {extra}, FUZZ_SEED={SEED} case {case}, input {shown}")
        accepted += result.exit_code == 0
    # Some mutated inputs must get through, or the fuzzing tests only the first check.
    assert accepted > 0, f"{target.name}: no mutated input accepted out of {target.cases * SCALE}"


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_basic_the_unmutated_seeds_succeed(target: Target, tmp_path: Path) -> None:
    # The fuzzing starts from inputs the command accepts (with the key it is given first
    # for keyed formats), so the mutations reach past the first check.
    for data in target.seeds():
        results = [target.run(tmp_path, data, list(extra)) for extra in target.variants]
        assert any(r.exit_code == 0 for r in results), (target.name, [r.output for r in results])
