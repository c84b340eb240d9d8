"""A validator voted in and another voted out, on real processes (issue 10's matrix): four
genesis validators and a fifth node written as a validator home but not in the genesis set,
which follows without voting. Three of the four propose and approve, in transactions
through the API, adding the fifth and removing validator-4; the change takes effect two
heights after the block that decided it. From that height the fifth node's precommits
appear in the certificates and validator-4's never do; every node holds one chain; and
transactions submitted meanwhile are each final once, at one height on every node.
"""

from __future__ import annotations

from pathlib import Path

from chain import codec
from chain.signatures import keypair_from_seed, sign_transaction
from chain.types import KIND_CALL, Gas, Height, Nonce, Signature, Transaction
from consensus.certificate import CommitCertificate
from tests.network.harness import Network, network  # noqa: F401 (fixture)
from tests.network.test_validators import final_height, height_at_least, same_chain, submit


def validator_seed(home: Path) -> bytes:
    return bytes.fromhex((home / "validator_key").read_text().strip())


def governance_call(network: Network, name: str, function: str, args: list, nonce: int = 0) -> str:  # noqa: F811
    """``name``'s validator key calls ``governance.function(args)`` through its own API;
    the transaction's hash."""
    seed = validator_seed(network.homes[name].home)
    chain_id = network.status(name)["chain_id"]
    unsigned = Transaction(
        chain_id, keypair_from_seed(seed)[1], Nonce(nonce), Height(10_000), Gas(2_000_000),
        KIND_CALL, ["governance", function, args], Signature(bytes(64)),
    )  # fmt: skip
    tx = sign_transaction(unsigned, seed)
    answer = network.post(name, "/v1/transactions", {"transactions": [tx.encode().hex()]})
    assert answer["results"][0]["accepted"], answer
    return tx.hash.hex()


def view(network: Network, name: str, function: str, args: list) -> object:  # noqa: F811
    answer = network.post(name, "/v1/call", {"contract": "governance", "function": function, "args": args})
    assert answer["success"], answer
    return codec.decode(bytes.fromhex(answer["return_value_hex"]))


def signers(network: Network, name: str, height: int) -> set[bytes]:  # noqa: F811
    block = network.get(name, f"/v1/blocks/{height}")
    certificate = CommitCertificate.decode(bytes.fromhex(block["certificate"]))
    return {s.validator for s in certificate.signatures}


def test_a_validator_is_voted_in_and_another_out(network: Network) -> None:  # noqa: F811
    network.write(5, genesis_validators=4)
    newcomer, leaver = network.homes["validator-5"], network.homes["validator-4"]
    assert newcomer.validator_key is not None and leaver.validator_key is not None
    network.start()
    network.wait_all(height_at_least(2), deadline=60)
    assert newcomer.validator_key.hex() not in network.status("validator-1")["validators"]

    before = submit(network, "validator-2", range(0, 3))
    changes = [[newcomer.validator_key, 1], [leaver.validator_key, 0]]
    proposed = governance_call(network, "validator-1", "propose_validators", [changes])
    final_height(network, "validator-1", proposed)
    during = submit(network, "validator-3", range(3, 6))
    approvals = [governance_call(network, n, "approve", [1]) for n in ("validator-2", "validator-3")]
    decided = max(final_height(network, "validator-1", tx) for tx in approvals)
    proposal = view(network, "validator-1", "proposal", [1])
    assert proposal["status"] == "decided" and proposal["decided_at"] == decided
    effective = decided + 2
    assert proposal["effective_height"] == effective
    after = submit(network, "validator-1", range(6, 9))

    top = effective + 4
    network.wait_all(height_at_least(top), deadline=90)
    same_chain(network, network.names, top)
    # The headers commit to the change: block E-1 names the new set as the next one.
    last_old, first_new = (network.get("validator-1", f"/v1/blocks/{h}")["header"] for h in (effective - 1, effective))
    assert last_old["next_validator_set_hash"] == first_new["validator_set_hash"] != last_old["validator_set_hash"]
    # Each node's certificates (each holds the precommits its node gathered).
    seen_newcomer = False
    for name in network.names:
        for height in range(1, top + 1):
            signed = signers(network, name, height)
            if height < effective:
                assert newcomer.validator_key not in signed, f"validator-5 signed block {height} before joining ({name})"
            else:
                assert leaver.validator_key not in signed, f"validator-4 signed block {height} after leaving ({name})"
                seen_newcomer = seen_newcomer or newcomer.validator_key in signed
    assert seen_newcomer, f"validator-5's precommits in the certificates of heights {effective}..{top} expected"
    validators = network.status("validator-2")["validators"]
    assert newcomer.validator_key.hex() in validators and leaver.validator_key.hex() not in validators
    for tx_hash in before + during + after:
        heights = {name: final_height(network, name, tx_hash) for name in network.names}
        assert len(set(heights.values())) == 1, f"{tx_hash} final at one height everywhere expected, found {heights}"
