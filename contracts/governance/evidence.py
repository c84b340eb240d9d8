"""Evidence of a double-signing validator: two votes of one validator for the same height,
round and type but different blocks, each verified here against the validator's key over
the bytes it signed (consensus.messages.vote_message under the domain tag ``mc/vote``).
A verified pair is stored once, under its hash (consensus.evidence.DuplicateVoteEvidence's
hash), and opens a proposal to remove the validator, which like every proposal takes effect
only once validators holding more than 2/3 of the power approve it.

A contract module (docs/contract-language.md, "Modules"): compiled into the governance
contract, never imported as Python.
"""

from common.keys import storage_key
from common.text import shape
from governance.proposals import is_live, open_proposal
from governance.sets import latest_set, require_validator_key, set_at

# chain.hashing.Domain tags, padded with zero bytes to 16 (chain.hashing.TAG_SIZE).
VOTE_TAG = b"mc/vote\x00\x00\x00\x00\x00\x00\x00\x00\x00"
EVIDENCE_TAG = b"mc/evidence\x00\x00\x00\x00\x00"
VOTE_TYPES = [1, 2]  # consensus.messages.VoteType: prevote, precommit
MAX_ROUND = 4294967295
MAX_PAGE = 100


def vote_bytes(validator: bytes, height: int, round: int, vote_type: int, block) -> bytes:
    # consensus.messages.vote_message, under its domain tag: what the validator signed.
    return VOTE_TAG + canonical_bytes([storage_get("chain_id"), vote_type, height, round, block, validator])


def require_block(block, what: str) -> None:
    ok = block is None or (isinstance(block, bytes) and len(block) == 32)
    require(ok, f"{what}: a 32-byte block hash or None expected, found {shape(block)}")


def block_order(block) -> bytes:
    # consensus.evidence._order_key: nil first, then by block hash.
    if block is None:
        return b""
    return b"\x01" + block


def evidence_hash(validator: bytes, height: int, round: int, vote_type: int, block_a, signature_a: bytes,
                  block_b, signature_b: bytes) -> bytes:
    """consensus.evidence.DuplicateVoteEvidence.hash of the pair, in either order."""
    vote_a = [vote_type, height, round, block_a, validator, signature_a]
    vote_b = [vote_type, height, round, block_b, validator, signature_b]
    pair = [vote_a, vote_b]
    if block_order(block_b) < block_order(block_a):
        pair = [vote_b, vote_a]
    return sha256(EVIDENCE_TAG + canonical_bytes(pair))


def evidence_key(evidence: bytes) -> str:
    return storage_key("ev/", [bytes_hex(evidence)])


@public
def report_evidence(validator: bytes, height: int, round: int, vote_type: int, block_a, signature_a: bytes,
                    block_b, signature_b: bytes) -> bytes:
    """Commit evidence that ``validator`` signed two votes for different blocks at one
    height, round and type; anyone may report it. Returns the evidence hash."""
    require_validator_key(validator, "validator")
    ok = isinstance(height, int) and 1 <= height and height <= block_height()
    require(ok, f"height: 1 to {block_height()} (a height already reached) expected, found {shape(height)}")
    ok = isinstance(round, int) and 0 <= round and round <= MAX_ROUND
    require(ok, f"round: 0 to {MAX_ROUND} expected, found {shape(round)}")
    require(vote_type in VOTE_TYPES, f"vote type 1 (prevote) or 2 (precommit) expected, found {shape(vote_type)}")
    require_block(block_a, "block a")
    require_block(block_b, "block b")
    require(block_a != block_b, "votes for different blocks expected, found two votes for the same block")
    hexkey = bytes_hex(validator)
    require(validator in set_at(height), f"a validator of the set of height {height} expected, found {hexkey}")
    for pair in [[block_a, signature_a], [block_b, signature_b]]:
        signature = pair[1]
        ok = isinstance(signature, bytes) and len(signature) == 64
        require(ok, f"signature: 64 bytes expected, found {shape(signature)}")
        message = vote_bytes(validator, height, round, vote_type, pair[0])
        require(ed25519_verify(validator, message, signature),
                f"votes signed by {hexkey} expected, found a signature that does not verify")
    evidence = evidence_hash(validator, height, round, vote_type, block_a, signature_a, block_b, signature_b)
    key = evidence_key(evidence)
    require(not storage_has(key), f"new evidence expected, found evidence {bytes_hex(evidence)} already on chain")
    reporter = tx_signer()
    storage_set(key, {"evidence_hash": evidence, "validator": validator, "height": height, "round": round,
                      "vote_type": vote_type, "reported_by": reporter, "block_height": block_height()})
    emit("EvidenceCommitted", {"validator": validator, "height": height, "round": round, "vote_type": vote_type,
                               "evidence_hash": evidence, "reported_by": reporter})
    # One open removal proposal per validator, and none for a validator already leaving; a
    # removal that expired unapproved is opened again by the next evidence.
    pending = storage_key("evp/", [hexkey])
    if validator in latest_set() and not (storage_has(pending) and is_live(storage_get(pending))):
        proposal_id = open_proposal("validators", {"changes": {validator: 0}}, reporter, evidence)
        storage_set(pending, proposal_id)
    return evidence


@view
def evidence_page(start_after: bytes, limit: int) -> list:
    """Evidence records by evidence hash after ``start_after`` (b"" for the first page), at
    most ``limit`` (<= 100)."""
    require(isinstance(start_after, bytes), f"start_after: bytes expected, found {shape(start_after)}")
    ok = isinstance(limit, int) and 0 < limit and limit <= MAX_PAGE
    require(ok, f"limit: 1 to {MAX_PAGE} expected, found {shape(limit)}")
    after = ""
    if len(start_after) > 0:
        after = evidence_key(start_after)
    out = []
    for key in storage_keys("ev/", after, limit):
        out.append(storage_get(key))
    return out
