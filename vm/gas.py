"""The gas schedule (docs/gas.md is its table; a test keeps the two in step).

Every instruction costs ``INSTRUCTION``; the static part of a basic block's cost is known
from the code alone and charged once when the block is entered. Costs that depend on data
(sizes of strings, lists and stored values, host calls) are charged by the instruction that
incurs them, before the work is done when the size is known in advance.
"""

from __future__ import annotations

from typing import Final

INSTRUCTION: Final = 1
CALL: Final = 10  # a call of a function of the same contract (static, with CALL)
BUILTIN_CALL: Final = 2  # any builtin or host call (static)
METHOD_CALL: Final = 2  # any method call (static)
POW: Final = 4  # static part of ``**``
PER_ITEM: Final = 1  # each item of a list / tuple / dict built, copied, scanned or sorted
BYTES_PER_GAS: Final = 8  # strings and bytes built, copied, compared or scanned: 1 gas per 8 bytes
BIG_INT_WORD: Final = 1  # ``*`` and ``**`` per 64-bit word of the result beyond the first

STORAGE_READ: Final = 200  # storage_get / storage_has
STORAGE_READ_PER_BYTE: Final = 1  # of the value read
STORAGE_WRITE: Final = 1_000  # storage_set
STORAGE_WRITE_PER_BYTE: Final = 10  # of key + encoded value written
STORAGE_DELETE: Final = 500
STORAGE_SCAN: Final = 200  # storage_keys
STORAGE_SCAN_PER_KEY: Final = 20

EVENT: Final = 300
EVENT_PER_BYTE: Final = 5  # of name + encoded fields
RETURN_PER_BYTE: Final = EVENT_PER_BYTE  # of the encoded return value: it lands in the receipt too

CONTEXT_READ: Final = 2  # caller(), tx_signer(), tx_hash(), block_height(), block_time()
CROSS_CALL: Final = 700  # call(): loading and entering another contract
ED25519_VERIFY: Final = 2_000
SHA256: Final = 50
CANONICAL_BYTES: Final = 20  # plus BYTES_PER_GAS of the encoding


def size_gas(nbytes: int) -> int:
    """Gas for handling ``nbytes`` bytes of str or bytes."""
    return nbytes // BYTES_PER_GAS
