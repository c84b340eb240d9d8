"""A child process for tests/node/test_crash.py: a validator's storage loop, run until killed.

``python tests/node/crash_child.py DIR SEED`` does, height after height, what a validator
does with its storage: for each step of a round it logs its own message to the write-ahead
log (synced) and then asks the signer (DIR/signer) to sign it; some rounds fail and the
next round starts, otherwise the height's block is committed to the block store (DIR/db)
and the log gets its end-of-height marker. On start it replays the log of the unfinished
height through the signer, as a restarted node re-signs its logged messages, and probes
the signer with a conflicting request. Each line on stdout reports what has happened;
the parent kills the process at random instants and checks the reports against the disk.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from chain.state import State
from node.blockstore import BlockStore
from node.signer import FileSigner, SignerError, load_or_create
from node.wal import WriteAheadLog
from tests.node.chain_builder import certificate_for, genesis, next_block

# The pruning window: small, so kills also fall while journals are processed and nodes deleted.
KEEP_HEIGHTS = 3
# The bodies window: small too, and an archive that always holds all but the head, so kills
# also fall while old bodies, receipts and index entries are dropped (node.bodies).
KEEP_BLOCKS = 4


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def sign(signer: FileSigner, height: int, round_: int, step: int, sign_bytes: bytes) -> None:
    signature = signer.sign(height, round_, step, sign_bytes)
    say(f"signed {height} {round_} {step} {sign_bytes.hex()} {signature.hex()}")


def replay(signer: FileSigner, records: list[bytes]) -> None:
    """Ask the signer again for every logged message: the last one signed comes back with
    its stored signature, earlier ones are refused as regressions, a logged one that was
    never signed is signed now. A conflict would mean the signer's file lost a signature."""
    for record in records:
        if not record.startswith(b"own"):
            continue  # peer messages would go to the state machine; they sign nothing
        _, height, round_, step, sign_bytes = record.split()
        hrs = (int(height), int(round_), int(step))
        try:
            sign(signer, *hrs, bytes.fromhex(sign_bytes.decode()))
        except SignerError as refused:
            if hrs >= signer.last.hrs:
                say(f"BUG logged message at {hrs} refused: {refused}")


def main() -> None:
    directory, rng = Path(sys.argv[1]), random.Random(int(sys.argv[2]))
    store = BlockStore.open(str(directory / "db"), keep_heights=KEEP_HEIGHTS, keep_blocks=KEEP_BLOCKS)  # a validator
    if not store.initialized:
        header, view = genesis(State.at(store.state_backend))
        store.commit_genesis(header, view)
    store.check_consistency()
    signer = load_or_create(directory / "signer", bytes(range(32)))
    log = WriteAheadLog.open(directory / "wal")
    height = store.head().height + 1
    replay(signer, log.replay_height(height))
    last = signer.last
    if last.height:
        try:
            signer.sign(last.height, last.round, last.step, rng.randbytes(40))
            say(f"BUG signed other bytes at {last.hrs}")
        except SignerError:
            pass
    say(f"ready {height - 1} {last.hrs}")
    round_, step = (last.round, last.step) if last.height == height else (0, 0)
    while True:
        step += 1
        if step > 3:
            if rng.random() < 0.25:  # the round fails: on to the next one
                round_, step = round_ + 1, 1
            else:
                block, receipts, view = next_block(
                    State.at(store.state_backend), store.head_header(), rng, rng.randrange(0, 6)
                )
                store.confirm_archived(height - 2)
                store.commit_block(block, receipts, certificate_for(block.header), view)
                say(f"committed {height}")
                log.end_height(height)
                height, round_, step = height + 1, 0, 1
        for i in range(rng.randrange(0, 3)):
            log.write(b"peer %d %d %d" % (height, round_, i))  # buffered, may be lost
        sign_bytes = rng.randbytes(40)
        log.write_sync(b"own %d %d %d %s" % (height, round_, step, sign_bytes.hex().encode()))
        say(f"synced {height} {round_} {step}")
        sign(signer, height, round_, step, sign_bytes)


if __name__ == "__main__":
    main()
