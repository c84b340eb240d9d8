"""The validator sets governance holds: one snapshot per height at which the set changed,
and the changes that take effect at each of those heights (what the nodes apply).

A set is a dict public key -> power. ``vh`` lists the effective heights of the snapshots,
ascending (the genesis set at 0); the set of height h is the last snapshot whose effective
height is at most h. ``ch/<effective height>`` holds the changes from the set of the
height before (key -> new power, 0 removes), exactly what ``ValidatorSet.for_next_height``
takes on the node.

A contract module (docs/contract-language.md, "Modules"): compiled into the governance
contract, never imported as Python.
"""

from common.keys import storage_key
from common.text import pad, shape

HEIGHT_DIGITS = 20  # a height is below 2**64 < 10**20: keys sort by height
# consensus.validators.MAX_TOTAL_POWER: the node's set refuses a larger total.
MAX_TOTAL_POWER = 1152921504606846975
MAX_CHANGES = 100  # entries of one set-change proposal
# A decided set change takes effect two heights after the block that decided it (the header
# of the next block already commits to the set after it: docs/consensus.md).
EFFECT_DELAY = 2


def snapshot_key(height: int) -> str:
    return storage_key("vs/", [pad(height, HEIGHT_DIGITS)])


def changes_key(height: int) -> str:
    return storage_key("ch/", [pad(height, HEIGHT_DIGITS)])


def set_at(height: int) -> dict:
    """The validator set (key -> power) of ``height``."""
    heights = storage_get("vh")
    i = len(heights) - 1
    while i > 0 and heights[i] > height:
        i -= 1
    return storage_get(snapshot_key(heights[i]))


def latest_set() -> dict:
    """The set after every change decided so far (some may not have taken effect yet)."""
    heights = storage_get("vh")
    return storage_get(snapshot_key(heights[len(heights) - 1]))


def current_set() -> dict:
    return set_at(block_height())


def total_power(validators: dict) -> int:
    total = 0
    for key in validators.keys():
        total += validators[key]
    return total


def more_than_two_thirds(power: int, total: int) -> bool:
    # consensus.validators.more_than_two_thirds: strictly more than 2/3, so exactly 2/3
    # does not decide.
    return 3 * power > 2 * total


def require_validator_key(key, what: str) -> None:
    ok = isinstance(key, bytes) and len(key) == 32
    require(ok, f"{what}: a 32-byte public key expected, found {shape(key)}")


def require_power(power, what: str) -> None:
    require(isinstance(power, int), f"{what}: an integer power expected, found {shape(power)}")
    require(0 <= power and power <= MAX_TOTAL_POWER, f"{what}: a power of 0 to {MAX_TOTAL_POWER} expected, found {power}")


def checked_changes(changes) -> dict:
    """``changes`` (a list of [public key, power] pairs, power 0 removing) as a dict, checked
    against the set after every decided change: a removal names a member, a change changes
    something, the set stays non-empty and within the total power."""
    ok = isinstance(changes, list) and len(changes) > 0 and len(changes) <= MAX_CHANGES
    require(ok, f"changes: a list of 1 to {MAX_CHANGES} [public key, power] pairs expected, found {shape(changes)}")
    latest = latest_set()
    out = {}
    for pair in changes:
        ok = (isinstance(pair, list) or isinstance(pair, tuple)) and len(pair) == 2
        require(ok, f"change: a [public key, power] pair expected, found {shape(pair)}")
        key = pair[0]
        power = pair[1]
        require_validator_key(key, "change")
        require_power(power, "change")
        hexkey = bytes_hex(key)
        require(key not in out, f"one change per validator expected, found {hexkey} twice")
        if power == 0:
            require(key in latest, f"removal of a validator of the set expected, found {hexkey} not in it")
        else:
            require(latest.get(key) != power, f"a change expected, found {hexkey} already at power {power}")
        out[key] = power
    resulting = applied(latest, out)
    require(len(resulting) > 0, "at least one validator after the change expected, found none")
    total = total_power(resulting)
    require(total <= MAX_TOTAL_POWER, f"a total power of at most {MAX_TOTAL_POWER} expected, found {total}")
    return out


def applied(validators: dict, changes: dict) -> dict:
    """A new set: ``validators`` with ``changes`` applied (the removal of a key no longer in
    the set is a no-op: another decision removed it first)."""
    out = {}
    for key in validators.keys():
        out[key] = validators[key]
    for key in changes.keys():
        if changes[key] == 0:
            if key in out:
                del out[key]
        else:
            out[key] = changes[key]
    return out


def difference(before: dict, after: dict) -> dict:
    """The changes that turn ``before`` into ``after`` (key -> new power, 0 removes)."""
    out = {}
    for key in before.keys():
        if key not in after:
            out[key] = 0
        elif after[key] != before[key]:
            out[key] = after[key]
    for key in after.keys():
        if key not in before:
            out[key] = after[key]
    return out


def schedule_changes(changes: dict) -> int:
    """Record ``changes``, decided in this block, for the height two after it; return that
    height. Two decisions in one block merge into one change of the set."""
    effective = block_height() + EFFECT_DELAY
    heights = storage_get("vh")
    last = heights[len(heights) - 1]
    if last == effective:
        before = storage_get(snapshot_key(heights[len(heights) - 2]))
    else:
        before = storage_get(snapshot_key(last))
    after = applied(storage_get(snapshot_key(last)), changes)
    require(len(after) > 0, "at least one validator after the change expected, found none")
    total = total_power(after)
    require(total <= MAX_TOTAL_POWER, f"a total power of at most {MAX_TOTAL_POWER} expected, found {total}")
    if last != effective:
        heights.append(effective)
        storage_set("vh", heights)
    storage_set(snapshot_key(effective), after)
    merged = difference(before, after)
    storage_set(changes_key(effective), merged)
    emit("validator_set_changed", {"effective_height": effective, "changes": merged, "decided_at": block_height()})
    return effective


def init_sets(validators) -> None:
    ok = isinstance(validators, list) and len(validators) > 0
    require(ok, f"validators: a non-empty list of [public key, power] pairs expected, found {shape(validators)}")
    genesis = {}
    for pair in validators:
        ok = (isinstance(pair, list) or isinstance(pair, tuple)) and len(pair) == 2
        require(ok, f"validator: a [public key, power] pair expected, found {shape(pair)}")
        require_validator_key(pair[0], "validator")
        require_power(pair[1], "validator")
        require(pair[1] > 0, f"validator: a positive power expected, found {pair[1]}")
        require(pair[0] not in genesis, f"distinct validators expected, found {bytes_hex(pair[0])} twice")
        genesis[pair[0]] = pair[1]
    require(total_power(genesis) <= MAX_TOTAL_POWER, f"a total power of at most {MAX_TOTAL_POWER} expected")
    storage_set("vh", [0])
    storage_set(snapshot_key(0), genesis)


def set_rows(validators: dict) -> list:
    rows = []
    for key in sorted(list(validators.keys())):
        rows.append({"public_key": key, "power": validators[key]})
    return rows


@view
def validator_set(height: int) -> list:
    """The validators of ``height`` as {public_key, power}, by key."""
    require(isinstance(height, int) and height >= 0, f"height: an integer >= 0 expected, found {shape(height)}")
    return set_rows(set_at(height))


@view
def set_changes(start_height: int, limit: int) -> list:
    """The set changes decided so far with an effective height of at least ``start_height``,
    ascending, at most ``limit`` (<= 100): [{effective_height, changes: {key: power}}]."""
    require(isinstance(start_height, int) and start_height >= 0, f"start height: an integer >= 0 expected, found {shape(start_height)}")
    require(isinstance(limit, int) and 0 < limit and limit <= 100, f"limit: 1 to 100 expected, found {shape(limit)}")
    after = ""
    if start_height > 0:
        after = changes_key(start_height - 1)
    out = []
    for key in storage_keys("ch/", after, limit):
        out.append({"effective_height": int(key[3:]), "changes": storage_get(key)})
    return out
