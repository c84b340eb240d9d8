"""A whole network's node homes written in one go: keys, the shared genesis, configs.

``write_network(directory, validators, regulators, ports)`` writes one home per node,
``DIR/validator-1`` ... ``DIR/regulator-1`` ..., each with

- ``node.toml`` (``node.config``): its API and p2p addresses, and every other node as a
  peer: a full mesh among validators, each regulator dialling every validator and listed
  by them as allowed to follow; every peer entry carries the peer's p2p URL, node key and
  HTTP API URL (block sync);
- ``node_key`` (the link key), ``validator_key`` for a validator, ``api_key`` (operator
  endpoints): fresh random seeds, each in its own file;
- ``genesis.json`` (``node.genesis``): the same document in every home, listing the
  validators with power 1 each.

The governance key's seed is written once, at ``DIR/governance_key``, outside every home:
it is the bootstrap key of the network's operators (``meterchain devnet`` uses it to set up
the utility), never a node's.

``meterchain init``, ``meterchain devnet up`` and the multi-process tests build on this.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, NamedTuple

from chain.signatures import keypair_from_seed
from node.config import CONFIG_FILE, SEED_SIZE
from node.genesis import GENESIS_FILE, GenesisDocument, GenesisValidator
from node.p2p import P2P_PATH

DEFAULT_CHAIN_ID: Final = "meterchain-devnet"
GOVERNANCE_KEY_FILE: Final = "governance_key"
HOST: Final = "127.0.0.1"


class NodePorts(NamedTuple):
    api: int
    p2p: int


def ports_from(base: int, count: int) -> list[NodePorts]:
    """``count`` nodes' ports from ``base`` on: API ``base + 2i``, p2p ``base + 2i + 1``."""
    return [NodePorts(base + 2 * i, base + 2 * i + 1) for i in range(count)]


@dataclass(frozen=True, slots=True)
class NodeHome:
    name: str
    role: Literal["validator", "regulator"]
    home: Path
    api_url: str  # http://127.0.0.1:PORT
    p2p_url: str  # ws://127.0.0.1:PORT/p2p
    node_key: bytes  # public
    validator_key: bytes | None  # public; None for a regulator
    api_key: str


def _seed_file(path: Path, seed: bytes) -> None:
    path.write_text(seed.hex() + "\n", encoding="utf-8")
    os.chmod(path, 0o600)


def _peer_table(peer: NodeHome) -> str:
    return (
        "\n[[p2p.peers]]\n"
        f'name = "{peer.name}"\n'
        f'url = "{peer.p2p_url}"\n'
        f'node_key = "{peer.node_key.hex()}"\n'
        f'role = "{peer.role}"\n'
        f'api = "{peer.api_url}"\n'
    )


def _node_toml(node: NodeHome, chain_id: str, ports: NodePorts, peers: list[NodeHome], followers: list[NodeHome]) -> str:
    validator_line = 'validator_key_file = "validator_key"\n' if node.role == "validator" else ""
    regulators = ", ".join(f'"{f.node_key.hex()}"' for f in followers)
    return (
        "[node]\n"
        f'name = "{node.name}"\n'
        f'role = "{node.role}"\n'
        f'chain_id = "{chain_id}"\n'
        'node_key_file = "node_key"\n'
        f"{validator_line}"
        f'genesis_file = "{GENESIS_FILE}"\n'
        'data_dir = "data"\n'
        'log_format = "plain"\n'
        "\n[api]\n"
        f'listen = "{HOST}:{ports.api}"\n'
        'key_file = "api_key"\n'
        "\n[p2p]\n"
        f'listen = "{HOST}:{ports.p2p}"\n'
        f"regulators = [{regulators}]\n" + "".join(_peer_table(p) for p in peers)
    )


def write_network(
    directory: Path,
    validators: int,
    regulators: int,
    ports: Sequence[NodePorts | tuple[int, int]],
    chain_id: str = DEFAULT_CHAIN_ID,
    genesis_time: int | None = None,
    genesis_validators: int | None = None,
) -> list[NodeHome]:
    """Write the homes of ``validators`` validators and ``regulators`` regulators under
    ``directory`` (``ports[i]`` is the i-th node's API and p2p port, validators first) and
    return them in that order. Refuses a directory that already holds a node home.

    ``genesis_validators``: only the first this many validators are in the genesis set (all
    when None); the others are validator homes outside it, in every peer mesh, which follow
    without voting until governance votes them in."""
    if validators < 1 or regulators < 0:
        raise ValueError(f"at least one validator and no negative count expected, found {validators} and {regulators}")
    in_genesis = validators if genesis_validators is None else genesis_validators
    if not 1 <= in_genesis <= validators:
        raise ValueError(f"1 to {validators} genesis validators expected, found {in_genesis}")
    if len(ports) != validators + regulators:
        raise ValueError(f"{validators + regulators} (api, p2p) port pairs expected, found {len(ports)}")
    directory.mkdir(parents=True, exist_ok=True)
    roles: list[tuple[str, Literal["validator", "regulator"]]] = [
        (f"validator-{i + 1}", "validator") for i in range(validators)
    ] + [(f"regulator-{i + 1}", "regulator") for i in range(regulators)]
    for name, _ in roles:
        if (directory / name / CONFIG_FILE).exists():
            raise FileExistsError(f"an empty place for a new node expected, found a node home at {directory / name}")

    nodes: list[NodeHome] = []
    seeds: dict[str, tuple[bytes, bytes | None]] = {}
    for (name, role), (api_port, p2p_port) in zip(roles, ports, strict=True):
        node_seed = secrets.token_bytes(SEED_SIZE)
        validator_seed = secrets.token_bytes(SEED_SIZE) if role == "validator" else None
        seeds[name] = (node_seed, validator_seed)
        nodes.append(
            NodeHome(
                name, role, directory / name,
                api_url=f"http://{HOST}:{api_port}",
                p2p_url=f"ws://{HOST}:{p2p_port}{P2P_PATH}",
                node_key=keypair_from_seed(node_seed)[1],
                validator_key=None if validator_seed is None else keypair_from_seed(validator_seed)[1],
                api_key=secrets.token_hex(16),
            )
        )  # fmt: skip

    governance_seed = secrets.token_bytes(SEED_SIZE)
    _seed_file(directory / GOVERNANCE_KEY_FILE, governance_seed)
    genesis = GenesisDocument(
        chain_id=chain_id,
        time=int(time.time()) if genesis_time is None else genesis_time,
        governance=keypair_from_seed(governance_seed)[1].hex(),
        validators=[
            GenesisValidator(name=n.name, public_key=n.validator_key.hex(), power=1)
            for n in nodes[:in_genesis]
            if n.validator_key is not None
        ],
    )
    validator_homes = [n for n in nodes if n.role == "validator"]
    regulator_homes = [n for n in nodes if n.role == "regulator"]
    for node, node_ports in zip(nodes, ports, strict=True):
        node.home.mkdir(parents=True, exist_ok=True)
        node_seed, validator_seed = seeds[node.name]
        _seed_file(node.home / "node_key", node_seed)
        if validator_seed is not None:
            _seed_file(node.home / "validator_key", validator_seed)
        (node.home / "api_key").write_text(node.api_key + "\n", encoding="utf-8")
        os.chmod(node.home / "api_key", 0o600)
        genesis.save(node.home / GENESIS_FILE)
        if node.role == "validator":
            peers = [v for v in validator_homes if v is not node]
            followers = regulator_homes
        else:
            peers, followers = validator_homes, []
        text = _node_toml(node, chain_id, NodePorts(*node_ports), peers, followers)
        (node.home / CONFIG_FILE).write_text(text, encoding="utf-8")
    return nodes
