"""Fuzzing of ``meterchain node run --home`` (issue 9, item 12): a node's home whose files
were damaged (``node.toml``, ``genesis.json``, the key files, the signer file, the consensus
write-ahead log, the LevelDB store cut short or changed) must be refused with one clear
message that names the file and says what was expected, never a traceback.

One real home is written and started once (store, signer and write-ahead log on disk);
each case copies it, damages one file with the seeded mutator of ``tests/cli/mutate.py``,
and runs ``meterchain node run --home`` in this process, its run loop replaced by start
then stop (a home that starts is accepted). ``FUZZ_SEED`` and ``FUZZ_SCALE`` as in
``tests/cli/test_fuzz_commands.py``; the default budget is a few seconds.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner, Result

from contracts import genesis as contracts_genesis
from meterchain.cli import app
from node import daemon, pidfile
from node.config import load_config
from node.daemon import Node
from node.testnet import write_network
from tests.cli.mutate import mutations
from tests.node.processes import node_ports

SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
GENESIS_TIME = 1_767_225_600  # fixed, so that the inputs are the same on every run
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
COMMAND = typer.main.get_command(app)
runner = CliRunner()
_compile = contracts_genesis.compile_contracts


@dataclass(frozen=True)
class Target:
    """A file of the home, how it is damaged, and the words a refusal must name."""

    name: str
    path: Callable[[Path], Path]  # the file in a home
    kind: str  # the mutator's edits: "bytes" or "json"
    cases: int
    names: tuple[str, ...]  # a refusal names one of these (the file, or its directory)


def _one(pattern: str) -> Callable[[Path], Path]:
    def path(home: Path) -> Path:
        found = sorted(home.glob(pattern))
        assert found, f"a file {pattern} in {home} expected, found none"
        return found[-1]

    return path


TARGETS = (
    Target("node.toml", _one("node.toml"), "bytes", 12, ("node.toml",)),
    Target("genesis.json", _one("genesis.json"), "json", 12, ("genesis.json", "genesis document")),
    Target("node_key", _one("node_key"), "bytes", 4, ("node_key",)),
    Target("validator_key", _one("validator_key"), "bytes", 4, ("validator_key",)),
    Target("signer", _one("data/signer"), "bytes", 6, ("signer",)),
    Target("wal", _one("data/wal/*"), "bytes", 6, ("wal", "write-ahead")),
    Target("leveldb CURRENT", _one("data/db/CURRENT"), "bytes", 4, ("db", "store")),
    Target("leveldb MANIFEST", _one("data/db/MANIFEST-*"), "bytes", 4, ("db", "store")),
    Target("leveldb log", _one("data/db/*.log"), "bytes", 6, ("db", "store")),
)


async def _start_then_stop(self: Node) -> str:
    """The node's run loop for the fuzzer: start every service, then stop them."""
    try:
        await self.runner.start()
    finally:
        await self.runner.stop()
    return "fuzzed"


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A validator's home that has run once: its store, signer and write-ahead log exist."""
    root = tmp_path_factory.mktemp("node-home")
    rng = random.Random(SEED)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("secrets.token_bytes", lambda n=32: rng.randbytes(n))
        [home] = write_network(root, 1, 0, node_ports(1), genesis_time=GENESIS_TIME)
        mp.setattr(contracts_genesis, "compile_contracts", _compile_once)
        node = Node(load_config(home.home))
        asyncio.run(_start_then_stop(node))
    yield home.home


@functools.cache
def _compiled(names: tuple[str, ...]) -> dict[str, Any]:
    return _compile(names)


def _compile_once(names: tuple[str, ...], sources: Any = None) -> dict[str, Any]:
    """The genesis contracts compiled once per process: every start builds the genesis to
    compare it with the store's, and compiling dominates a case otherwise."""
    return _compiled(names) if sources is None else _compile(names, sources)


def _run(home: Path) -> Result:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(contracts_genesis, "compile_contracts", _compile_once)
        mp.setattr(daemon.Node, "run", _start_then_stop)
        mp.setattr(pidfile, "write", lambda home: None)
        result = runner.invoke(COMMAND, ["node", "run", "--home", str(home)])
    logging.getLogger().handlers[:] = []  # the daemon's handler wrote to this run's stderr
    return result


def _clean_refusal(result: Result, target: Target, where: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{where}: a refusal expected, found {type(result.exception).__name__}: {str(result.exception)[:300]}"
    )
    assert result.exit_code in (1, 2), f"{where}: exit status 1 or 2 expected, found {result.exit_code}"
    errors = [line for line in result.stderr.splitlines() if "error: " in line]
    assert "Traceback" not in result.stderr, f"{where}: no traceback expected, found {result.stderr[-2000:]}"
    assert len(errors) == 1, f"{where}: one 'error: ...' line expected, found {result.stderr[-2000:]!r}"
    assert any(name in errors[0] for name in target.names), (
        f"{where}: an error naming {' or '.join(target.names)} expected, found {errors[0]!r}"
    )


def test_basic_the_undamaged_home_starts(base_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    result = _run(home)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_fuzz_node_run_with_a_damaged_home(target: Target, base_home: Path, tmp_path: Path) -> None:
    original = target.path(base_home)
    relative = original.relative_to(base_home)
    rng = random.Random(f"{SEED}/{target.name}")
    cases = list(mutations([original.read_bytes()], rng, target.cases * SCALE, target.kind))
    cut = original.read_bytes()
    cases.append(cut[: len(cut) // 2])  # cut short, as a crash or a full disk leaves it
    for case, data in enumerate(cases):
        home = tmp_path / f"case-{case}"
        shutil.copytree(base_home, home)
        (home / relative).write_bytes(data)
        result = _run(home)
        if result.exit_code != 0:
            shown = data[:120]
            _clean_refusal(result, target, f"{target.name}, FUZZ_SEED={SEED} case {case}, input {shown!r}")
        shutil.rmtree(home)


def _edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> bytes:
    document = json.loads(path.read_text())
    change(document)
    return json.dumps(document).encode()


def _power(document: dict[str, Any]) -> None:
    document["validators"][0]["power"] = 2**64


def _contracts(document: dict[str, Any]) -> None:
    document["contracts"] = ["registry", "genesis"]


# What the fuzzer found, each once by name: the file, its damaged content, what the
# refusal must say.
FOUND = (
    ("node.toml", lambda home: (home / "node.toml").read_bytes().replace(b"[node]", b"[node]\n# \xff"), "node.toml: UTF-8 TOML expected"),
    ("node.toml", lambda home: re.sub(rb'listen = "127\.0\.0\.1:', b'listen = "no-such-host.invalid:', (home / "node.toml").read_bytes(), count=1), "listen in"),
    ("node_key", lambda home: b"\xff" * 64, "hex digits in"),
    ("genesis.json", lambda home: _edit_json(home / "genesis.json", _power), "total power at most"),
    ("genesis.json", lambda home: _edit_json(home / "genesis.json", _contracts), "contracts shipped with meterchain expected, found 'genesis'"),
    ("genesis.json", lambda home: (home / "genesis.json").read_bytes() + b"\xc3", "UTF-8 JSON expected"),
    ("data/signer", lambda home: b"\x97\xb3meterchain-signer/\xef\xbb", "signer"),
)  # fmt: skip


@pytest.mark.parametrize(("relative", "damage", "expected"), FOUND, ids=[f"{f[0]}-{i}" for i, f in enumerate(FOUND)])
def test_invalid_damage_the_fuzzer_found_is_refused_by_name(
    relative: str, damage: Callable[[Path], bytes], expected: str, base_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(base_home, home)
    (home / relative).write_bytes(damage(home))
    result = _run(home)
    target = Target(relative, _one(relative), "bytes", 0, (Path(relative).name,))
    _clean_refusal(result, target, relative)
    assert expected in result.stderr, result.stderr
