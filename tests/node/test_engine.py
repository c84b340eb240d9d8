"""The consensus engine (``node.engine``) in one process: engines over real stores, signers
and write-ahead logs, a fake clock and an in-memory network (tests/node/engine_network.py).

Named validators v1..v4. What is checked: blocks are produced and agreed on, with valid
certificates and strictly increasing whole-second times; a transaction in the mempool is
proposed at once, an empty block only after the interval; a crashed validator replays its
log into the very state it had and never signs a conflicting message; a cut-off validator
catches up by commit messages; bad messages are dropped with a reason, and change nothing.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from chain import codec
from chain.hashing import Hash32
from chain.signatures import keypair_from_seed
from chain.transition import get_nonce
from consensus.certificate import CommitCertificate, verify_commit
from consensus.machine import ConsensusParams, Step
from consensus.messages import Proposal, Vote, VoteType, sign_proposal, sign_vote
from node.consensus_io import CommitMessage, DropReason, EngineSettings, encode_proposal_message
from node.height_blocks import within_time
from node.signer import FileSigner
from node.validator_sets import ValidatorSets
from tests.node.certified_chain import GENESIS_TIME, key_of, seed_of
from tests.node.engine_network import FakeNetwork, Node

FOUR = ("v1", "v2", "v3", "v4")


@pytest.fixture
def network(tmp_path: Path):  # type: ignore[no-untyped-def]
    networks: list[FakeNetwork] = []

    def make(names: tuple[str, ...] = FOUR) -> FakeNetwork:
        net = FakeNetwork(tmp_path / f"net{len(networks)}", names)
        networks.append(net)
        return net

    yield make
    for net in networks:
        net.stop_all()


def chain_of(node: Node) -> list[Hash32]:
    return [node.store.block(h).header.hash for h in range(1, node.height + 1)]  # type: ignore[union-attr]


def check_chain(net: FakeNetwork, node: Node) -> None:
    """Every stored block links to its parent, has a later whole-second time and a
    certificate of more than 2/3 of the validators; every next block carries it."""
    parent = node.store.genesis_header()
    validators = net.genesis.validator_set()
    for height in range(1, node.height + 1):
        block = node.store.block(height)
        raw = node.store.certificate(height)
        assert block is not None and raw is not None
        assert block.header.parent_hash == parent.hash and block.header.time >= parent.time + 1
        verify_commit(net.genesis.chain_id, block.header, CommitCertificate.decode(raw), validators)
        if height > 1:
            verify_commit(net.genesis.chain_id, parent, CommitCertificate.decode(block.last_commit), validators)
        parent = block.header
    node.store.check_consistency()


def submit(net: FakeNetwork, nodes: list[Node], tx) -> None:  # type: ignore[no-untyped-def]
    for node in nodes:
        state = node.store.state()
        admission = node.mempool.add(tx, node.height + 1, lambda a, s=state: get_nonce(s, a))
        assert admission.accepted, admission.message


# --- producing blocks --------------------------------------------------------------------


def test_one_validator_produces_blocks_and_finalizes_a_transaction(network) -> None:  # type: ignore[no-untyped-def]
    net = network(("v1",))
    [v1] = net.start_all()
    net.run_until_height(2)
    tx = net.transaction()
    submit(net, [v1], tx)
    net.run_until_height(3)
    location = v1.store.find_transaction(tx.hash)
    assert location is not None and location.receipt.ok, location
    assert len(v1.mempool) == 0
    check_chain(net, v1)


def test_four_validators_agree_on_every_block(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    nodes = net.start_all()
    net.run_until_height(5)
    chains = [chain_of(n)[:5] for n in nodes]
    assert all(c == chains[0] for c in chains)
    proposers = {nodes[0].store.block(h).header.proposer for h in range(1, 6)}  # type: ignore[union-attr]
    assert len(proposers) == 4, "the proposer rotates"
    for node in nodes:
        check_chain(net, node)
    assert net.drops == []


def test_an_empty_block_waits_for_the_interval_and_a_transaction_does_not(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    nodes = net.start_all()
    net.run_until_height(2)
    times = [nodes[0].store.block(h).header.time for h in (1, 2)]  # type: ignore[union-attr]
    assert times[1] - times[0] >= net.settings.empty_block_interval
    # Right after a commit a transaction arrives: the next block does not wait the interval
    # (only for the clock to pass the parent's second).
    net.clock.run_until(lambda: all(n.engine.state.step is Step.COMMIT or n.height >= 3 for n in nodes))
    submit(net, nodes, net.transaction())
    start = net.clock.now()
    net.run_until_height(3)
    assert net.clock.now() - start < 1.5
    assert len(nodes[0].store.block(3).transactions) == 1  # type: ignore[union-attr]


def test_invalid_an_empty_interval_is_not_a_block_per_poll(network) -> None:  # type: ignore[no-untyped-def]
    net = network(("v1",))
    [v1] = net.start_all()
    net.clock.run_until(lambda: net.clock.now() >= GENESIS_TIME + 10 + 5.5, limit=10)
    # 5.5 s with an interval of 1 s: at most one block a second, never more.
    assert 3 <= v1.height <= 6


# --- restarts ------------------------------------------------------------------------------


def test_a_crashed_validator_replays_its_log_into_the_same_state(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    net.start_all()
    net.run_until_height(2)
    # Stop v3 in the middle of height 3, once it has prevoted.
    v3 = net.node("v3")
    net.clock.run_until(lambda: v3.engine.state.height == 3 and v3.engine.state.step >= Step.PREVOTE)
    before = v3.engine.state
    signed_before = FileSigner.load(v3.directory / "signer").last
    net.crash("v3")
    v3 = net.start("v3")
    after = v3.engine.state
    assert (after.height, after.round, after.step) == (before.height, before.round, before.step)
    assert (after.locked_value, after.locked_round, after.valid_value) == (
        before.locked_value, before.locked_round, before.valid_value,
    )  # fmt: skip
    assert after.votes == before.votes
    assert FileSigner.load(v3.directory / "signer").last == signed_before  # nothing signed anew
    net.run_until_height(6)
    chains = [chain_of(n)[:6] for n in net.nodes.values()]
    assert all(c == chains[0] for c in chains)
    check_chain(net, v3)


def test_a_validator_restarted_after_deciding_commits_the_block(network) -> None:  # type: ignore[no-untyped-def]
    net = network(("v1",))
    [v1] = net.start_all()
    net.run_until_height(1)
    # Kill it between the decision and the store's batch: the log holds the decision.
    original = v1.store.commit_block

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("killed before the batch")

    v1.store.commit_block = die  # type: ignore[method-assign]
    with pytest.raises(OSError):
        net.clock.run_until(lambda: v1.height >= 2, limit=5)
    v1.store.commit_block = original  # type: ignore[method-assign]
    net.crash("v1")
    v1 = net.start("v1")
    assert v1.height == 2, "the replayed decision is committed at start"
    net.run_until_height(3)
    check_chain(net, v1)


def test_a_cut_off_validator_catches_up_by_commit_messages(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    nodes = net.start_all()
    net.run_until_height(1)
    v4 = net.node("v4")
    net.cut.add(v4.key)
    others = ("v1", "v2", "v3")
    net.run_until_height(v4.height + 4, others)
    assert v4.height <= 2
    net.cut.clear()
    target = max(n.height for n in nodes)
    net.run_until_height(target + 1)
    assert chain_of(v4)[:target] == chain_of(net.node("v1"))[:target]
    check_chain(net, v4)


def test_invalid_a_conflicting_signature_is_never_released_after_a_restart(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    net.start_all()
    v2 = net.node("v2")
    net.clock.run_until(lambda: v2.engine.state.height == 2 and v2.engine.state.step >= Step.PRECOMMIT)
    last = FileSigner.load(v2.directory / "signer").last
    net.crash("v2")
    # The log is lost (a new disk), the signer file is not: the replayed machine would
    # vote afresh at the step already signed; the signer refuses other bytes there.
    for record in (v2.directory / "wal").iterdir():
        record.unlink()
    sent: list[bytes] = []
    v2 = net.start("v2")
    original = v2.engine.transport.broadcast

    def spy(kind: str, payload: bytes, exclude: bytes | None = None) -> int:
        if kind == "vote":
            sent.append(payload)
        return original(kind, payload, exclude)

    v2.engine.transport.broadcast = spy  # type: ignore[method-assign]
    net.run_until_height(4)
    for payload in sent:
        vote = Vote.decode(payload)
        if (vote.height, vote.round) == (last.height, last.round):
            step = 2 if vote.type is VoteType.PREVOTE else 3
            if step == last.step:
                assert vote.signature == last.signature


# --- a re-proposal carries its polka (L28) ----------------------------------------------------


def test_a_reproposal_carries_the_polka_a_peer_missed(network) -> None:  # type: ignore[no-untyped-def]
    """In round 0 only ``leader`` (round 1's proposer) sees the polka for the block: its own
    prevote is lost on the way and ``blind`` never gets the proposal. The leader locks on
    the block and proposes it again in round 1 with valid round 0. The others, not locked,
    take that proposal only with round 0's polka in hand (L28); the leader sends it along,
    so height 1 is decided in round 1 with round 0's block."""
    net = network()
    net.start_all()
    validators = net.node("v1").engine.validators_at(1)
    names = {key_of(n): n for n in FOUR}
    first, leader = validators.proposer_at(0), validators.proposer_at(1)
    blind = next(k for k in names if k not in (first, leader))

    def lose(sender: bytes, receiver: bytes, kind: str, payload: bytes) -> bool:
        if net.nodes[sender].engine.state.round != 0 or net.nodes[sender].engine.state.height != 1:
            return False  # only what is sent in round 0 of height 1
        if kind == "proposal":
            return receiver == blind
        return kind == "vote" and sender == leader and Vote.decode(payload).type is VoteType.PREVOTE

    net.lose = lose
    net.clock.run_until(lambda: net.nodes[leader].engine.state.round == 1, limit=30)
    held = net.nodes[leader].engine.state
    assert held.locked_round == 0 and held.valid_round == 0 and held.locked_value is not None
    round_0_block = held.locked_value
    for key in names:
        if key != leader:
            assert net.nodes[key].engine.state.locked_round == -1
    net.run_until_height(1, limit=30)
    for node in net.nodes.values():
        block = node.store.block(1)
        raw = node.store.certificate(1)
        assert block is not None and raw is not None
        assert block.header.hash == round_0_block and CommitCertificate.decode(raw).round == 1


def test_invalid_a_new_proposal_carries_no_polka(network) -> None:  # type: ignore[no-untyped-def]
    """Proposals of new blocks (valid round -1): every vote a node broadcasts is its own."""
    net = network()
    net.start_all()
    sent: list[tuple[bytes, Vote]] = []
    for node in net.nodes.values():
        original = node.engine.transport.broadcast

        def spy(kind: str, payload: bytes, exclude: bytes | None = None, original=original, me=node.key) -> int:  # type: ignore[no-untyped-def]
            if kind == "vote":
                sent.append((me, Vote.decode(payload)))
            return original(kind, payload, exclude)

        node.engine.transport.broadcast = spy  # type: ignore[method-assign]
    net.run_until_height(3)
    assert len({v.height for _, v in sent}) >= 2
    assert all(vote.validator == sender for sender, vote in sent)


# --- bad messages ----------------------------------------------------------------------------


def test_bad_messages_are_dropped_with_a_reason_and_change_nothing(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    nodes = net.start_all()
    net.run_until_height(1)
    v1 = net.node("v1")
    chain_id = net.genesis.chain_id
    state = v1.engine.state
    height = v1.engine.working_height
    eve = keypair_from_seed(seed_of("eve"))[1]
    v2 = key_of("v2")
    some_block = Hash32(bytes(32))

    def vote(validator: str, block: Hash32 | None = some_block) -> Vote:
        key = keypair_from_seed(seed_of(validator))[1]
        return sign_vote(Vote(VoteType.PREVOTE, height, 0, block, key), seed_of(validator), chain_id)

    forged = replace(vote("v2"), signature=vote("v3").signature, _checked=[])
    proposer = net.genesis.validator_set().proposer_at(0) if height == 1 else v1.engine.validators_at(height).proposer_at(0)
    not_proposer = next(n for n in FOUR if key_of(n) != proposer)
    block = nodes[0].store.block(1)
    assert block is not None
    wrong_proposal = sign_proposal(
        Proposal(height, 0, some_block, 0, -1, key_of(not_proposer)), seed_of(not_proposer), chain_id
    )
    proposer_name = next(n for n in FOUR if key_of(n) == proposer)
    mismatched = sign_proposal(Proposal(height, 0, some_block, 0, -1, proposer), seed_of(proposer_name), chain_id)
    stranger_cert = CommitCertificate(height, 0, some_block, ())
    cases = [
        ("vote", b"\xff\x00garbage", DropReason.MALFORMED),
        ("vote", codec.encode([1, 2, 3]), DropReason.MALFORMED),
        ("vote", vote("eve").encode(), DropReason.NOT_VALIDATOR_KEY),
        ("vote", forged.encode(), DropReason.BAD_SIGNATURE),
        ("proposal", b"\x93", DropReason.MALFORMED),
        ("proposal", encode_proposal_message(wrong_proposal, block.encode()), DropReason.NOT_PROPOSER),
        ("proposal", encode_proposal_message(mismatched, block.encode()), DropReason.BLOCK_MISMATCH),
        ("proposal", encode_proposal_message(mismatched, b"\x01\x02"), DropReason.MALFORMED_BLOCK),
        ("commit", CommitMessage(height, b"", stranger_cert.encode()).encode(), DropReason.BAD_CERTIFICATE),
        ("commit", b"", DropReason.MALFORMED),
        ("commit_request", b"\xc1", DropReason.MALFORMED),
    ]
    wal = v1.directory / "wal" / "wal"
    size = wal.stat().st_size
    for kind, payload, reason in cases:
        assert net.receive(v2, v1.key, kind, payload) == reason, (kind, reason)
    assert v1.engine.state is state, "nothing reached the state machine"
    v1.engine._wal.flush_and_sync()  # type: ignore[union-attr]
    assert wal.stat().st_size == size, "nothing was logged"
    assert eve not in net.genesis.validator_set()
    # The network goes on.
    net.run_until_height(3)
    check_chain(net, v1)


def test_a_vote_of_a_validator_is_accepted_and_a_rebroadcast_is_not_logged_twice(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    net.start_all()
    net.run_until_height(1)
    v1 = net.node("v1")
    net.clock.run_until(lambda: v1.engine.state.step is Step.PROPOSE and v1.engine.state.height == 2)
    chain_id = net.genesis.chain_id
    vote = sign_vote(Vote(VoteType.PREVOTE, 2, 0, None, key_of("v3")), seed_of("v3"), chain_id)
    assert net.receive(key_of("v3"), v1.key, "vote", vote.encode()) is None
    assert v1.engine.state.votes.existing(vote) == (vote,)
    wal = v1.directory / "wal" / "wal"
    v1.engine._wal.flush_and_sync()  # type: ignore[union-attr]
    size = wal.stat().st_size
    assert net.receive(key_of("v3"), v1.key, "vote", vote.encode()) is None
    v1.engine._wal.flush_and_sync()  # type: ignore[union-attr]
    assert wal.stat().st_size == size


def test_an_invalid_block_gets_a_nil_prevote(network) -> None:  # type: ignore[no-untyped-def]
    net = network()
    nodes = net.start_all()
    net.run_until_height(1)
    v1 = net.node("v1")
    height = v1.engine.working_height
    proposer = v1.engine.validators_at(height).proposer_at(0)
    proposer_name = next(n for n in FOUR if key_of(n) == proposer)
    receiver = next(n for n in nodes if n.key != proposer)
    net.clock.run_until(lambda: receiver.engine.state.height == height and receiver.engine.state.step is Step.PROPOSE)
    # A block for the right height, but with a state root that its transactions do not give.
    parent = receiver.store.head_header()
    good = nodes[0].store.block(1)
    assert good is not None
    header = replace(good.header, height=height, parent_hash=parent.hash, time=parent.time + 1,
                     proposer=proposer, state_root=Hash32(bytes(32)))  # fmt: skip
    bad = replace(good, header=header, last_commit=receiver.store.certificate(1) or b"")
    bad = replace(bad, header=replace(header, last_commit_hash=_commit_hash(bad.last_commit)))
    proposal = sign_proposal(
        Proposal(height, 0, bad.header.hash, bad.header.time, -1, proposer), seed_of(proposer_name), net.genesis.chain_id
    )
    assert net.receive(proposer, receiver.key, "proposal", encode_proposal_message(proposal, bad.encode())) is None
    state = receiver.engine.state
    [record] = state.proposals[0][:1]
    assert record.valid is False
    prevotes = state.votes.existing(Vote(VoteType.PREVOTE, height, 0, None, receiver.key))
    assert [v.block_hash for v in prevotes] == [None]


def _commit_hash(last_commit: bytes) -> Hash32:
    from chain.types import last_commit_hash

    return last_commit_hash(last_commit)


def test_the_engine_runs_on_the_event_loop_with_real_timers(tmp_path: Path) -> None:
    """One validator on asyncio's own timers and clock (no fake): it produces a block."""
    net = FakeNetwork(tmp_path, ("v1",))
    net.clock = None  # type: ignore[assignment]

    async def run() -> int:
        from node.consensus_io import LoopTimers

        node_dir = tmp_path / "v1"
        from node.blockstore import BlockStore  # noqa: F401
        from node.engine import ConsensusEngine
        from node.mempool import Mempool
        from node.metrics import NodeMetrics
        from node.signer import load_or_create
        from node.storechain import open_store

        store = open_store(node_dir / "db", net.genesis)
        engine = ConsensusEngine(
            chain_id=net.genesis.chain_id, store=store, validator_sets=ValidatorSets.of_store(net.genesis.validator_set(), store), runtime=net.runtime,
            mempool=Mempool(net.genesis.chain_id), wal_dir=node_dir / "wal",
            transport=_NoPeers(), settings=replace(net.settings, empty_block_interval=0.0),
            metrics=NodeMetrics(), signer=load_or_create(node_dir / "signer", seed_of("v1")), timers=LoopTimers(),
        )  # fmt: skip
        await engine.start()
        try:
            for _ in range(100):
                if store.head().height >= 1:
                    break
                await asyncio.sleep(0.05)
        finally:
            await engine.stop()
            height = store.head().height
            store.close()
        return height

    assert asyncio.run(run()) >= 1


class _NoPeers:
    def broadcast(self, kind: str, payload: bytes, exclude: bytes | None = None) -> int:
        return 0

    def send(self, node_key: bytes, kind: str, payload: bytes) -> bool:
        return False


def test_a_bad_vote_on_a_peer_link_is_dropped_and_counted_by_reason(network) -> None:  # type: ignore[no-untyped-def]
    from node.engine import serve_consensus
    from node.p2p import P2PConfig, P2PNetwork, PeerLink, encode_frame

    net = network()
    net.start_all()
    net.run_until_height(1)
    v1 = net.node("v1")
    links = P2PNetwork(P2PConfig(net.genesis.chain_id, seed_of("node-v1")), lambda key: "validator", v1.metrics)
    serve_consensus(links, v1.engine)
    link = PeerLink(key_of("v2"), "v2", "validator", "inbound", key_of("v2"), ws=None)  # type: ignore[arg-type]
    vote = sign_vote(Vote(VoteType.PREVOTE, 2, 0, None, key_of("v2")), seed_of("v2"), net.genesis.chain_id)
    forged = replace(vote, signature=sign_vote(replace(vote, round=1), seed_of("v2"), net.genesis.chain_id).signature)
    asyncio.run(links._dispatch(link, encode_frame("vote", forged.encode())))
    asyncio.run(links._dispatch(link, encode_frame("vote", b"\x00" * 300)))  # over a vote's size

    def dropped(reason: str) -> float:
        return v1.metrics.registry.get_sample_value("meterchain_dropped_messages_total", {"reason": reason}) or 0.0

    assert dropped("bad_signature") == 1 and dropped("oversized") == 1


def test_a_proposer_offers_transactions_until_its_build_time_is_up() -> None:
    clock = [0.0]
    offered = []
    for tx in within_time(list(range(10)), lambda: clock[0], deadline=1.0):  # type: ignore[arg-type]
        offered.append(tx)
        clock[0] += 0.3  # each one takes 0.3 s to run
    assert offered == [0, 1, 2, 3]  # the fourth starts at 0.9 s, the fifth would at 1.2 s
    # On a machine too slow for even one, the first is still offered: the chain moves on.
    assert list(within_time(list(range(3)), lambda: 5.0, deadline=1.0)) == [0]  # type: ignore[arg-type]


def test_the_build_time_is_a_share_of_the_rounds_propose_timeout() -> None:
    settings = EngineSettings(ConsensusParams("chain", timeout_propose=3000, timeout_propose_delta=500))
    assert settings.build_seconds(0) == pytest.approx(1.0)
    assert settings.build_seconds(2) == pytest.approx(4 / 3)  # the timeout grows with the round
    assert replace(settings, build_share=0.2).build_seconds(0) == pytest.approx(0.6)


def test_a_proposer_builds_a_wait_after_its_commit_with_the_gossip_that_waits_admitted(tmp_path: Path) -> None:
    """``build_wait``: the next block is built no earlier than that after the last commit,
    and right before it the engine's ``before_build`` (the node's pending gossip admission)
    runs, so what it admits is in the block rather than in the one after."""
    base = FakeNetwork(tmp_path / "base", ("v1",)).settings
    net = FakeNetwork(tmp_path / "net", ("v1",), settings=replace(base, build_wait=1.5))
    v1 = net.start("v1")
    try:
        net.run_until_height(2)
        committed_at: dict[int, float] = {}
        recheck = v1.engine.on_committed
        assert recheck is not None

        def on_committed(height: int) -> None:
            committed_at[height] = net.clock.now()
            recheck(height)

        first = net.transaction()
        gossiped = [net.transaction(nonce=first.nonce + 1)]  # arrived, not admitted yet
        built_at: list[float] = []

        def admit_pending() -> None:
            built_at.append(net.clock.now())
            if gossiped:
                submit(net, [v1], gossiped.pop())

        v1.engine.on_committed = on_committed
        v1.engine.before_build = admit_pending
        net.run_until_height(3)  # an empty block, after the interval
        submit(net, [v1], first)  # right after its commit a transaction arrives
        net.run_until_height(4)
        block = v1.store.block(4)
        assert block is not None
    finally:
        net.stop_all()
    # The block after the submission holds both: the one submitted and the gossiped one
    # admitted right before it was built, a wait after the last commit.
    assert len(block.transactions) == 2
    assert built_at[-1] >= committed_at[3] + 1.5  # longer than the wait for the next second
