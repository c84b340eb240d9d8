# A metered counter: the smallest useful contract, used by the core's scenario test and
# benchmark. Each meter's owner adds readings; the contract keeps the running total and
# bills it at a flat price, so a test can check storage, events, require and gas.

PRICE_MICRO_PER_WH = 250_000  # 2.50 per kWh in micro-minor-units per Wh


@public
def init() -> None:
    require(not storage_has("governance"), "init once expected, found already initialised")
    storage_set("governance", caller())


@public
def claim(meter: str) -> None:
    require(len(meter) > 0 and len(meter) <= 32, f"meter id of 1..32 characters expected, found {len(meter)}")
    owner = storage_get("owner/" + meter)
    require(owner is None, f"unclaimed meter expected, found {meter} owned")
    storage_set("owner/" + meter, caller())
    emit("claimed", {"meter": meter, "owner": caller(), "at": block_time()})


@public
def add(meter: str, wh: int) -> int:
    require(storage_get("owner/" + meter) == caller(), f"the owner of {meter} expected as signer")
    require(wh > 0, f"positive consumption expected, found {wh}")
    total = storage_get("total/" + meter, 0) + wh
    storage_set("total/" + meter, total)
    emit("consumed", {"meter": meter, "wh": wh, "total": total})
    return total


@view
def bill(meter: str) -> int:
    return div_round_half_up(storage_get("total/" + meter, 0) * PRICE_MICRO_PER_WH, 1_000_000)
