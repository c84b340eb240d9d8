"""Fuzzing of the files `meterchain wallet` reads, as test_fuzz_commands.py does for the
other commands (same seed, scale and outcome rule): the key file, and a capture whose
billed register is picked offline (`--register` given, no node reachable: a capture that
parses goes on to the node and is refused with one line, as any unreachable node is)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from click.testing import Result

from meter_adapters.simulator import MeterState, dsmr_telegram
from tests.cli.mutate import mutations
from tests.cli.test_fuzz_commands import (
    SCALE,
    SEED,
    _dsmr_crc,
    _dsmr_seeds,
    _invoke,
    assert_clean_outcome,
)
from tests.node.processes import free_ports


def _key_file(tmp: Path, data: bytes) -> Result:
    key = tmp / "wallet_key"
    key.write_bytes(data)
    key.chmod(0o600)
    return _invoke(["wallet", "address", "--key", str(key)])


def _submit(tmp: Path, data: bytes, key: Path, node: str) -> Result:
    capture = tmp / "p1"
    capture.write_bytes(data)
    return _invoke(["wallet", "submit", "SIM0000000000001", "dsmr", "--file", str(capture),
                    "--register", "1-0:1.8.0", "--node", node, "--key", str(key)])  # fmt: skip


def test_fuzz_wallet_key_file(tmp_path: Path) -> None:
    rng = random.Random(f"{SEED}:wallet key")
    accepted = 0
    for case, data in enumerate(mutations([bytes(range(32)).hex().encode() + b"\n"], rng, 120 * SCALE, "bytes")):
        result = _key_file(tmp_path, data)
        assert_clean_outcome(result, f"wallet address --key, FUZZ_SEED={SEED} case {case}, input {data[:100]!r}")
        accepted += result.exit_code == 0
    assert accepted > 0


@pytest.mark.parametrize("seed_index", [0])
def test_fuzz_wallet_submit_capture_offline(tmp_path: Path, seed_index: int) -> None:
    key = tmp_path / "k"
    assert _invoke(["wallet", "new", "--key", str(key)]).exit_code == 0
    (port,) = free_ports(1)
    node = f"http://127.0.0.1:{port}"  # nothing listens: every parsed capture ends at the node
    rng = random.Random(f"{SEED}:wallet submit")
    seeds = [*_dsmr_seeds(), dsmr_telegram(MeterState())]
    reached_node = 0
    for case, data in enumerate(mutations(seeds, rng, 60 * SCALE, "bytes")):
        if rng.random() < 0.5:
            data = _dsmr_crc(data)
        result = _submit(tmp_path, data, key, node)
        assert_clean_outcome(result, f"wallet submit --file, FUZZ_SEED={SEED} case {case}, input {data[:100]!r}")
        reached_node += "a node answering at" in result.stderr
    # Some mutated captures must parse and pick their register, or only the parser is fuzzed.
    assert reached_node > 0
