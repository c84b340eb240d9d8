"""The EVM side of bench/peers: billing_step.vy compiled by Vyper 0.4 and run on py-evm.

Runs in the peers' own virtual environment (bench_peers.py creates it); never imported by
the project. Reads the workload (a JSON file: meters and readings) and prints one JSON
object: the cost of every reading and each meter's balance (for the equality check), and
the timings:

- ``call_us``: one reading as a bare EVM message call on the state (no transaction, no
  block: the interpreter and its storage), per reading;
- ``tx_us``: one reading as a signed transaction in a mined block (py-evm's
  ``MiningChain.mine_all``: sender recovery, execution, receipts, state root), per reading.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import vyper
from eth import constants
from eth._utils.address import generate_contract_address
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.vm.forks.cancun import CancunVM
from eth.vm.message import Message
from eth_keys import keys
from eth_utils import keccak

GAS_PRICE = 10**10
SELECTOR = keccak(b"submit_reading(bytes32,uint256)")[:4]
OWED = keccak(b"owed(bytes32)")[:4]


def calldata(meter: str, index: int) -> bytes:
    return SELECTOR + meter.encode().ljust(32, b"\0") + index.to_bytes(32, "big")


def new_chain(code: bytes) -> tuple[MiningChain, bytes, keys.PrivateKey]:
    """A Cancun chain with one funded account that has deployed the contract."""
    key = keys.PrivateKey(b"\x01" * 32)
    sender = key.public_key.to_canonical_address()
    chain_class = MiningChain.configure(__name__="PeersChain", vm_configuration=((0, CancunVM),), chain_id=1337)
    genesis = {"difficulty": 0, "gas_limit": 1_000_000_000, "timestamp": 1_700_000_000}
    accounts = {sender: {"balance": 10**30, "nonce": 0, "code": b"", "storage": {}}}
    chain = chain_class.from_genesis(AtomicDB(), genesis, accounts)
    deploy = chain.get_vm().create_unsigned_transaction(
        nonce=0, gas_price=GAS_PRICE, gas=5_000_000, to=constants.CREATE_CONTRACT_ADDRESS, value=0, data=code
    ).as_signed_transaction(key)
    chain.mine_all([deploy])
    return chain, generate_contract_address(sender, 0), key


def main(workload_path: str, source_path: str) -> None:
    workload = json.loads(Path(workload_path).read_text())
    readings = [(meter, index) for meter, index in workload["readings"]]
    code = bytes.fromhex(vyper.compile_code(Path(source_path).read_text(), output_formats=["bytecode"])["bytecode"][2:])

    # Bare calls: one message per reading against the state, storage kept between calls.
    chain, address, key = new_chain(code)
    sender = key.public_key.to_canonical_address()
    state = chain.get_vm().state
    context = state.get_transaction_context_class()(gas_price=GAS_PRICE, origin=sender)
    contract_code = state.get_code(address)
    costs = []
    start = time.perf_counter()
    for meter, index in readings:
        message = Message(gas=1_000_000, to=address, sender=sender, value=0, data=calldata(meter, index), code=contract_code)
        computation = state.computation_class.apply_message(state, message, context)
        if not computation.is_success:
            raise SystemExit(f"EVM call failed: {computation.error}")
        costs.append(int.from_bytes(computation.output, "big"))
    call_seconds = time.perf_counter() - start

    # Signed transactions, mined in blocks of the workload's block size.
    chain, address, key = new_chain(code)
    size = workload["block_size"]
    unsigned = [
        chain.get_vm().create_unsigned_transaction(
            nonce=1 + i, gas_price=GAS_PRICE, gas=200_000, to=address, value=0, data=calldata(meter, index)
        )
        for i, (meter, index) in enumerate(readings)
    ]
    signed = [tx.as_signed_transaction(key) for tx in unsigned]  # signing is the wallet's, not timed
    start = time.perf_counter()
    for first in range(0, len(signed), size):
        chain.mine_all(signed[first : first + size])
    tx_seconds = time.perf_counter() - start

    state = chain.get_vm().state
    owed = {}
    for meter in sorted({m for m, _ in readings}):
        message = Message(gas=100_000, to=address, sender=sender, value=0,
                          data=OWED + meter.encode().ljust(32, b"\0"), code=state.get_code(address))  # fmt: skip
        computation = state.computation_class.apply_message(state, message, context)
        owed[meter] = int.from_bytes(computation.output, "big")
    json.dump(
        {
            "costs": costs,
            "owed": owed,
            "call_us": call_seconds / len(readings) * 1e6,
            "tx_us": tx_seconds / len(readings) * 1e6,
            "versions": {"vyper": vyper.__version__, "py-evm": _version("py-evm")},
        },
        sys.stdout,
    )


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
