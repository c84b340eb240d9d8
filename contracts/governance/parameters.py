"""Chain parameters that the validators set together: the block limits the chain reads at the
start of every block (chain/parameters.py reads ``params``), and how long a proposal stays
open.

``params`` holds every parameter's current value (written at init, so the chain and the
views never guess a default). A decided parameter change is written in the block that
decided it and holds from the next block on: unlike a validator set, no header commits to
the parameters, so nothing needs the extra height.

Each parameter has bounds. The block limits' upper bounds are the chain's own ceilings
(chain/parameters.py: what every node's codec, timeouts and build cap were sized for):
governance may lower a limit, e.g. to slow a chain whose blocks take too long to apply, and
raise it back, never past the ceiling. The block gas limit never goes below one
transaction's most (chain.transition.MAX_TX_GAS), or a valid transaction could fit no block.

A contract module (docs/contract-language.md, "Modules"): compiled into the governance
contract, never imported as Python.
"""

from common.text import shape

# name -> [lowest, highest] (both allowed)
PARAMETER_BOUNDS = {
    "max_block_gas": [5000000, 100000000],
    "max_block_transactions": [1, 10000],
    "proposal_lifetime": [10, 100000000],
}
# About a week at one block a second: time for every utility's operator to look.
DEFAULT_PARAMETERS = {
    "max_block_gas": 100000000,
    "max_block_transactions": 10000,
    "proposal_lifetime": 604800,
}


def init_parameters() -> None:
    values = {}
    for name in PARAMETER_BOUNDS.keys():
        values[name] = DEFAULT_PARAMETERS[name]
    storage_set("params", values)


def parameter(name: str) -> int:
    return storage_get("params")[name]


def checked_parameter_changes(changes) -> dict:
    """``changes`` ({name: value}) checked: known names, integers within bounds, each a change."""
    ok = isinstance(changes, dict) and len(changes) > 0
    require(ok, f"changes: a dict of parameter name -> value expected, found {shape(changes)}")
    current = storage_get("params")
    out = {}
    for name in changes.keys():
        known = ", ".join(sorted(list(PARAMETER_BOUNDS.keys())))
        require(isinstance(name, str) and name in PARAMETER_BOUNDS,
                f"a parameter name ({known}) expected, found {shape(name)}")
        value = changes[name]
        bounds = PARAMETER_BOUNDS[name]
        ok = isinstance(value, int) and not isinstance(value, bool) and bounds[0] <= value and value <= bounds[1]
        require(ok, f"{name}: an integer from {bounds[0]} to {bounds[1]} expected, found {shape(value)}")
        require(current[name] != value, f"a change expected, found {name} already {value}")
        out[name] = value
    return out


def apply_parameter_changes(changes: dict) -> int:
    """Write decided ``changes``; return the first height they hold at (the next block's)."""
    values = storage_get("params")
    for name in changes.keys():
        values[name] = changes[name]
    storage_set("params", values)
    effective = block_height() + 1
    emit("parameters_changed", {"changes": changes, "effective_height": effective, "decided_at": block_height()})
    return effective


@view
def parameters() -> dict:
    """Every chain parameter's current value."""
    return storage_get("params")
