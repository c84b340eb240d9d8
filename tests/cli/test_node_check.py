"""`meterchain node check --home`: an operator's offline check of a stopped node's store."""

from __future__ import annotations

import logging
from pathlib import Path

from typer.testing import CliRunner

from meterchain.cli import app
from node.blockstore import TX_PREFIX, BlockStore
from node.config import load_config
from node.daemon import main as run_daemon
from node.genesis import GenesisDocument
from node.statedb import NODE_PREFIX
from node.storechain import open_chain
from node.testnet import write_network
from tests.node.processes import node_ports


def _home(tmp_path: Path) -> Path:
    (home,) = write_network(tmp_path, 1, 0, node_ports(1))
    return home.home


def _open(home: Path) -> BlockStore:
    config = load_config(home)
    return open_chain(config, GenesisDocument.load(config.genesis_path))


def test_a_fresh_store_is_consistent_at_height_0(tmp_path: Path) -> None:
    home = _home(tmp_path)
    _open(home).close()  # what the node does on its first start: commit genesis

    result = CliRunner().invoke(app, ["node", "check", "--home", str(home)])

    assert result.exit_code == 0, result.output
    assert "store of validator-1 consistent: height 0, state root " in result.output
    assert "keys, every tree node present)" in result.output


def test_invalid_a_transaction_index_entry_pointing_at_no_block_is_named(tmp_path: Path) -> None:
    home = _home(tmp_path)
    store = _open(home)
    store.db.put(TX_PREFIX + bytes(range(32)), (1).to_bytes(8, "big") + (0).to_bytes(4, "big"))
    store.close()

    result = CliRunner().invoke(app, ["node", "check", "--home", str(home)])

    assert result.exit_code == 1
    assert f"transaction {bytes(range(32)).hex()} at block 1 index 0 expected, not found" in result.output


def test_invalid_a_store_held_by_a_running_node_is_refused_with_a_message(tmp_path: Path) -> None:
    home = _home(tmp_path)
    store = _open(home)  # holds LevelDB's lock as a running node would
    try:
        result = CliRunner().invoke(app, ["node", "check", "--home", str(home)])
    finally:
        store.close()

    assert result.exit_code == 1
    assert result.output.startswith("error: ") and "Traceback" not in result.output


def test_invalid_a_second_node_on_a_home_in_use_exits_with_a_message(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    home = _home(tmp_path)
    store = _open(home)  # the first node
    handlers = logging.getLogger().handlers[:]
    try:
        code = run_daemon(["--home", str(home)])
    finally:
        logging.getLogger().handlers[:] = handlers  # the daemon installs its own log handler
        store.close()

    assert code == 2
    assert "held by another process (is a node already running on this home?)" in capsys.readouterr().err


def test_invalid_a_tree_node_missing_under_the_head_root_is_named(tmp_path: Path) -> None:
    home = _home(tmp_path)
    store = _open(home)
    with store.db.iterator(prefix=NODE_PREFIX, include_value=False) as nodes:
        victim = next(key for i, key in enumerate(nodes) if i == 3)
    store.db.delete(victim)
    store.close()

    result = CliRunner().invoke(app, ["node", "check", "--home", str(home)])

    assert result.exit_code == 1
    assert f"node {victim[len(NODE_PREFIX):].hex()} expected in the node store, found nothing" in result.output
