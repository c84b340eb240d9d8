"""``node.metrics.CpuParts``: each CPU second is credited once, to the innermost part."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter

from node.metrics import CpuParts, NodeMetrics


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def parts_with_clock() -> tuple[CpuParts, Counter, FakeClock]:
    counter = Counter("cpu_seconds", "test", ["part"], registry=CollectorRegistry())
    clock = FakeClock()
    return CpuParts(counter, clock), counter, clock


def spent(counter: Counter, part: str) -> float:
    return float(counter.labels(part)._value.get())


def test_nested_parts_are_credited_apart() -> None:
    parts, counter, clock = parts_with_clock()
    with parts.part("vote"):
        clock.now += 1.0
        with parts.part("commit"):
            clock.now += 5.0
            with parts.part("after_commit"):
                clock.now += 2.0
            clock.now += 0.5
        clock.now += 0.25
    assert spent(counter, "vote") == pytest.approx(1.25)
    assert spent(counter, "commit") == pytest.approx(5.5)
    assert spent(counter, "after_commit") == pytest.approx(2.0)


def test_a_part_left_by_an_exception_is_still_credited() -> None:
    parts, counter, clock = parts_with_clock()
    with pytest.raises(ValueError), parts.part("outer"):
        with parts.part("inner"):
            clock.now += 3.0
            raise ValueError("refused")
    with parts.part("outer"):
        clock.now += 1.0
    assert spent(counter, "inner") == pytest.approx(3.0)
    assert spent(counter, "outer") == pytest.approx(1.0)


def test_parts_one_after_another_are_not_nested() -> None:
    parts, counter, clock = parts_with_clock()
    with parts.part("admission_api"):
        clock.now += 2.0
    with parts.part("gossip"):
        clock.now += 1.0
    assert spent(counter, "admission_api") == pytest.approx(2.0)
    assert spent(counter, "gossip") == pytest.approx(1.0)


def test_node_metrics_expose_the_parts() -> None:
    metrics = NodeMetrics()
    with metrics.cpu.part("execute"):
        sum(range(1000))
    assert b'meterchain_cpu_seconds_total{part="execute"}' in metrics.exposition()


def test_a_garbage_collection_is_its_own_part_out_of_the_part_it_interrupted() -> None:
    parts, counter, clock = parts_with_clock()
    with parts.part("execute"):
        clock.now += 2.0
        parts.collecting("start", {"generation": 2})
        clock.now += 0.75
        parts.collecting("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
        clock.now += 1.0
    assert spent(counter, "execute") == pytest.approx(3.0)
    assert spent(counter, "gc") == pytest.approx(0.75)


def test_invalid_a_collection_already_running_when_installed_is_not_credited() -> None:
    """Twin: the ``stop`` of a collection whose ``start`` came before the callback was
    installed closes nothing (the part it would pop is someone else's)."""
    parts, counter, clock = parts_with_clock()
    with parts.part("execute"):
        clock.now += 2.0
        parts.collecting("stop", {"generation": 0, "collected": 0, "uncollectable": 0})
        clock.now += 1.0
    assert spent(counter, "execute") == pytest.approx(3.0)
    assert spent(counter, "gc") == 0.0


def test_the_collectors_callbacks_reach_the_parts() -> None:
    import gc

    parts, counter, clock = parts_with_clock()

    def collection_takes_half_a_second(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            clock.now += 0.5

    gc.callbacks.extend([collection_takes_half_a_second, parts.collecting])
    try:
        with parts.part("execute"):
            clock.now += 1.0
            gc.collect()
    finally:
        gc.callbacks.remove(collection_takes_half_a_second)
        gc.callbacks.remove(parts.collecting)
    assert spent(counter, "execute") == pytest.approx(1.0)
    assert spent(counter, "gc") == pytest.approx(0.5)
