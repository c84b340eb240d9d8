# pragma version ^0.4.0
"""
@title The billing step of bench/peers, in Vyper
@notice One meter reading: the consumption since the meter's last reading, priced by a
        tiered tariff over the period's consumption so far, added to the meter's balance.
        The same step as billing_step.py (meterchain's contract language) and as the plain
        Python of bench_peers.py; all three must give the same figures.
"""

last_index: public(HashMap[bytes32, uint256])
period_wh: public(HashMap[bytes32, uint256])
owed: public(HashMap[bytes32, uint256])

# (Wh in the tier, price per kWh in 1/100 of the minor unit); the last tier has no end.
TIER1_WH: constant(uint256) = 150_000
TIER2_WH: constant(uint256) = 250_000
PRICE1: constant(uint256) = 1_250
PRICE2: constant(uint256) = 1_800
PRICE3: constant(uint256) = 2_400


@internal
@pure
def _energy(wh: uint256) -> uint256:
    # The price of the first `wh` Wh of a period: each tier's part, rounded down.
    first: uint256 = min(wh, TIER1_WH)
    second: uint256 = min(wh - first, TIER2_WH)
    rest: uint256 = wh - first - second
    return first * PRICE1 // 1_000 + second * PRICE2 // 1_000 + rest * PRICE3 // 1_000


@external
def submit_reading(meter: bytes32, index: uint256) -> uint256:
    last: uint256 = self.last_index[meter]
    assert index >= last, "reading goes backwards"
    before: uint256 = self.period_wh[meter]
    after: uint256 = before + (index - last)
    cost: uint256 = self._energy(after) - self._energy(before)
    self.last_index[meter] = index
    self.period_wh[meter] = after
    self.owed[meter] += cost
    return cost
