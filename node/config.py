"""A node's configuration: one TOML file per node (``HOME/node.toml``), read with tomllib.

The file names everything the node needs and nothing secret: keys live in their own files
beside it (``node_key_file``, ``validator_key_file``, each a hex seed), the operator API key
too (``api.key_file``). Paths are relative to the node's home. Every section is a pydantic
model that forbids unknown fields, so a typo is an error saying which field was expected
and what was found, with the file's path, before anything starts.

```toml
[node]
name = "validator-1"
role = "validator"             # or "regulator"
chain_id = "meterchain-devnet"
node_key_file = "node_key"
validator_key_file = "validator_key"
genesis_file = "genesis.json"  # the network's genesis document (node.genesis)
data_dir = "data"              # the block store: DATA_DIR/db
log_format = "plain"           # or "json"

[api]
listen = "127.0.0.1:8545"
key_file = "api_key"           # operator endpoints answer 401 without it

[p2p]
listen = "127.0.0.1:26656"
[[p2p.peers]]
name = "validator-2"
url = "ws://127.0.0.1:26657/p2p"
node_key = "<64 hex digits>"
role = "validator"             # the default; "regulator" for a follower this node dials
api = "http://127.0.0.1:8546"  # the peer's HTTP API, where block sync fetches blocks

[mempool]
max_transactions = 20000

[storage]
mode = "pruned"                # or "archive"; default: pruned for a validator, archive for a regulator
keep_heights = 1000            # a pruned node keeps the state of its last 1000 heights
keep_blocks = 100000           # and the bodies and receipts of its last 100000 heights, once archived
archives = ["http://127.0.0.1:8550"]  # the APIs of the archive nodes that must hold a block before it goes
archive_poll_ms = 10000        # how often they are asked what they hold

[state_sync]                   # a new node starts from a peer's snapshot (node.state_sync)
enabled = true
trust_height = 1200            # optional, with trust_hash: a block the operator trusts;
trust_hash = "<64 hex digits>" # without them the headers are checked from the genesis
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chain.signatures import keypair_from_seed
from chain.types import MAX_CHAIN_ID_LEN
from node.mempool import MempoolLimits
from node.p2p import P2P_PATH, P2PConfig, PeerAddress

CONFIG_FILE: Final = "node.toml"
SEED_SIZE: Final = 32


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file and the field."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"host:port expected, found {value!r}")
    return value


class NodeSection(_Section):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["validator", "regulator"]
    chain_id: str = Field(min_length=1, max_length=MAX_CHAIN_ID_LEN)
    node_key_file: str = "node_key"
    validator_key_file: str | None = None
    genesis_file: str = "genesis.json"
    data_dir: str = "data"
    log_format: Literal["plain", "json"] = "plain"
    log_level: Literal["debug", "info", "warning", "error"] = "info"


class ApiSection(_Section):
    listen: str = "127.0.0.1:8545"
    key_file: str | None = None
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value)


class PeerSection(_Section):
    name: str = Field(min_length=1, max_length=64)
    url: str
    node_key: str = Field(pattern=r"^[0-9a-f]{64}$", description="the peer's node public key, hex")
    role: Literal["validator", "regulator"] = "validator"
    api: str | None = Field(default=None, description="the peer's HTTP API (block sync), http://host:port")

    @field_validator("url")
    @classmethod
    def _ws_url(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")) or not value.endswith(P2P_PATH):
            raise ValueError(f"a ws://host:port{P2P_PATH} URL expected, found {value!r}")
        return value

    @field_validator("api")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"an http://host:port URL expected, found {value!r}")
        return None if value is None else value.rstrip("/")


class P2PSection(_Section):
    listen: str = "127.0.0.1:26656"
    peers: list[PeerSection] = Field(default_factory=list)
    regulators: list[str] = Field(
        default_factory=list, description="node keys (hex) of regulators allowed to follow this node"
    )
    max_frame_bytes: int = Field(default=16 * 1024 * 1024, gt=0)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value)


_LIMITS: Final = MempoolLimits()


class MempoolSection(_Section):
    max_transactions: int = Field(default=_LIMITS.max_transactions, gt=0)
    max_bytes: int = Field(default=_LIMITS.max_bytes, gt=0)
    max_per_sender: int = Field(default=_LIMITS.max_per_sender, gt=0)
    max_nonce_ahead: int = Field(default=_LIMITS.max_nonce_ahead, gt=0)


class ConsensusSection(_Section):
    timeout_propose_ms: int = Field(default=3000, gt=0)
    timeout_prevote_ms: int = Field(default=1000, gt=0)
    timeout_precommit_ms: int = Field(default=1000, gt=0)
    timeout_delta_ms: int = Field(default=500, ge=0)
    max_block_transactions: int = Field(default=5000, gt=0)
    # With an empty mempool a block is proposed this long after the last one (liveness).
    empty_block_interval_ms: int = Field(default=2000, ge=0)
    # A proposer starts building at the earliest this long after it committed the last
    # block: the transactions submitted while the validators executed that block (their
    # admission waits meanwhile) reach its mempool and this block, instead of the next one a
    # second later. Measured by bench_network at 800 readings/s (node.engine).
    # Long enough for the loop to read what its sockets hold after a commit (API batches,
    # gossip; the queued gossip is admitted at the build anyway), short enough not to idle
    # every height: at 150 ms most heights at 800 readings/s waited on it, the whole network
    # idle, ~0.1 s of every reading's finality (the commit log's timeline: build 0.13-0.16).
    build_wait_ms: int = Field(default=50, ge=0)
    # A validator sends its latest proposal and votes again this often (node.engine).
    rebroadcast_interval_ms: int = Field(default=1000, gt=0)
    max_clock_drift_s: int = Field(default=2, ge=0, description="how far ahead of our clock a proposal's time may be")


DEFAULT_KEEP_HEIGHTS: Final = 1000
# About two days at a block every two seconds: a peer that fell behind by less block-syncs
# from any validator; further back, from an archive or by state sync.
DEFAULT_KEEP_BLOCKS: Final = 100_000


class StorageSection(_Section):
    mode: Literal["pruned", "archive"] | None = Field(
        default=None, description="pruned: keep the state of the last keep_heights heights; archive: keep all "
        "(default: pruned for a validator, archive for a regulator)"
    )
    keep_heights: int = Field(default=DEFAULT_KEEP_HEIGHTS, ge=1, description="the window of a pruned node, in heights")
    keep_blocks: int = Field(
        default=DEFAULT_KEEP_BLOCKS, ge=1, description="a pruned node keeps the bodies and receipts of this many last "
        "heights (headers and certificates of all); older ones go once every archive holds them"
    )
    archives: list[str] = Field(
        default_factory=list, description="HTTP APIs (http://host:port) of the archive nodes that must hold a block "
        "before a pruned node drops its body; none: bodies are never dropped"
    )
    archive_poll_ms: int = Field(default=10_000, gt=0, description="how often the archives are asked what they hold")

    @field_validator("archives")
    @classmethod
    def _archive_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"an http://host:port URL expected, found {url!r}")
        return [url.rstrip("/") for url in value]


class StateSyncSection(_Section):
    enabled: bool = Field(default=False, description="start an empty store from a peer's snapshot")
    trust_height: int | None = Field(default=None, ge=1, description="a height the operator trusts (with trust_hash)")
    trust_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="block trust_height's hash, hex")
    depth: int = Field(default=8, ge=0, le=16, description="where a snapshot's top ends and its chunks begin")


class ConfigFile(_Section):
    node: NodeSection
    api: ApiSection = Field(default_factory=ApiSection)
    p2p: P2PSection = Field(default_factory=P2PSection)
    mempool: MempoolSection = Field(default_factory=MempoolSection)
    consensus: ConsensusSection = Field(default_factory=ConsensusSection)
    storage: StorageSection = Field(default_factory=StorageSection)
    state_sync: StateSyncSection = Field(default_factory=StateSyncSection)


class NodeConfig:
    """A loaded configuration: the file's sections plus the keys read from their files."""

    def __init__(self, home: Path, file: ConfigFile, node_seed: bytes, validator_seed: bytes | None, api_key: str | None) -> None:
        self.home = home
        self.file = file
        self.node_seed = node_seed
        self.node_key = keypair_from_seed(node_seed)[1]
        self.validator_seed = validator_seed
        self.validator_key = None if validator_seed is None else keypair_from_seed(validator_seed)[1]
        self.api_key = api_key

    @property
    def name(self) -> str:
        return self.file.node.name

    @property
    def role(self) -> str:
        return self.file.node.role

    @property
    def chain_id(self) -> str:
        return self.file.node.chain_id

    @property
    def data_dir(self) -> Path:
        return self.home / self.file.node.data_dir

    @property
    def genesis_path(self) -> Path:
        return self.home / self.file.node.genesis_file

    @property
    def storage_mode(self) -> Literal["pruned", "archive"]:
        """A regulator audits everything: it is an archive unless told otherwise."""
        mode = self.file.storage.mode
        if mode is None:
            return "archive" if self.role == "regulator" else "pruned"
        return mode

    @property
    def keep_heights(self) -> int | None:
        """The pruning window in heights, ``None`` on an archive."""
        return None if self.storage_mode == "archive" else self.file.storage.keep_heights

    @property
    def keep_blocks(self) -> int | None:
        """How many last heights' bodies and receipts a pruned node keeps, ``None`` on an archive."""
        return None if self.storage_mode == "archive" else self.file.storage.keep_blocks

    @property
    def archives(self) -> list[str]:
        """The APIs of the archives that must hold a block before its body is dropped."""
        return list(self.file.storage.archives)

    def peer_apis(self) -> dict[str, str]:
        """Peer name -> HTTP API URL, for the peers whose API is configured (block sync)."""
        return {p.name: p.api for p in self.file.p2p.peers if p.api is not None}

    def api_address(self) -> tuple[str, int]:
        host, _, port = self.file.api.listen.rpartition(":")
        return host, int(port)

    def mempool_limits(self) -> MempoolLimits:
        m = self.file.mempool
        return MempoolLimits(m.max_transactions, m.max_bytes, m.max_per_sender, m.max_nonce_ahead)

    def p2p_config(self) -> P2PConfig:
        p2p = self.file.p2p
        host, _, port = p2p.listen.rpartition(":")
        peers = tuple(PeerAddress(p.name, p.url, bytes.fromhex(p.node_key)) for p in p2p.peers)
        return P2PConfig(
            self.chain_id, self.node_seed, listen_host=host, listen_port=int(port), peers=peers,
            max_frame=p2p.max_frame_bytes,
        )

    def peer_roles(self) -> dict[bytes, Literal["validator", "regulator"]]:
        """The node keys this node links with: its configured peers (validators unless
        marked otherwise) and the regulators allowed to follow it."""
        roles: dict[bytes, Literal["validator", "regulator"]] = {
            bytes.fromhex(k): "regulator" for k in self.file.p2p.regulators
        }
        for peer in self.file.p2p.peers:
            roles[bytes.fromhex(peer.node_key)] = peer.role
        return roles


def _read_seed(path: Path, what: str) -> bytes:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{what}: a readable key file at {path} expected, found {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{what}: {2 * SEED_SIZE} hex digits in {path} expected, found a byte that is not text at {exc.start}") from None
    try:
        seed = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(f"{what}: {2 * SEED_SIZE} hex digits in {path} expected, found other text") from None
    if len(seed) != SEED_SIZE:
        raise ConfigError(f"{what}: a {SEED_SIZE}-byte seed in {path} expected, found {len(seed)} bytes")
    return seed


def parse_config(text: str, home: Path, source: str = CONFIG_FILE) -> NodeConfig:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: TOML expected, found a syntax error: {exc}") from None
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (found {e.get('input')!r:.60})" for e in exc.errors()[:5]
        )
        raise ConfigError(f"{source}: {problems}") from None
    if (file.state_sync.trust_height is None) != (file.state_sync.trust_hash is None):
        raise ConfigError(f"{source}: state_sync: trust_height and trust_hash together or neither expected, found one")
    storage = file.storage
    pruned = storage.mode == "pruned" or (storage.mode is None and file.node.role == "validator")
    if pruned and storage.keep_blocks < storage.keep_heights:
        raise ConfigError(
            f"{source}: storage.keep_blocks: at least keep_heights ({storage.keep_heights}: a kept state height is "
            f"served with its block) expected, found {storage.keep_blocks}"
        )
    if not pruned and storage.archives:
        raise ConfigError(
            f"{source}: storage.archives: none on an archive (it keeps every block and drops nothing) expected, "
            f"found {len(storage.archives)}"
        )
    for key in file.p2p.regulators:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ConfigError(f"{source}: p2p.regulators: 64 lowercase hex digits expected, found {key!r:.70}")
    node = file.node
    node_seed = _read_seed(home / node.node_key_file, "node.node_key_file")
    validator_seed = None
    if node.role == "validator":
        if node.validator_key_file is None:
            raise ConfigError(f"{source}: node.validator_key_file: a key file for a validator expected, found none")
        validator_seed = _read_seed(home / node.validator_key_file, "node.validator_key_file")
    elif node.validator_key_file is not None:
        raise ConfigError(f"{source}: node.validator_key_file: none for a regulator (it never votes) expected, found one")
    api_key = None
    if file.api.key_file is not None:
        path = home / file.api.key_file
        try:
            api_key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"api.key_file: a readable file at {path} expected, found {exc.strerror or exc}") from None
        if len(api_key) < 16:
            raise ConfigError(f"api.key_file: an API key of at least 16 characters expected, found {len(api_key)}")
    return NodeConfig(home, file, node_seed, validator_seed, api_key)


def load_config(home: Path) -> NodeConfig:
    """Read ``HOME/node.toml`` and the key files it names."""
    path = home / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"a node configuration at {path} expected, found {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: UTF-8 TOML expected, found a byte that is not UTF-8 at {exc.start}") from None
    return parse_config(text, home, str(path))
