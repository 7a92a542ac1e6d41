"""The probe's garbage collector settings (probe.gc_policy)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from probe.gc_policy import (
    OBJECTS_PER_CHECK,
    PYTHON_YOUNG_THRESHOLD,
    YOUNG_THRESHOLD_MAX,
    young_collections_for,
    young_threshold,
)


@pytest.fixture
def young_collections() -> Iterator[list[int]]:
    """Counts young collections (generation 0 only) while the test runs."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 0:
            seen.append(1)

    gc.callbacks.append(callback)
    try:
        yield seen
    finally:
        gc.callbacks.remove(callback)


def test_threshold_grows_with_the_workers_within_bounds() -> None:
    assert young_threshold(concurrency=200) == 200 * OBJECTS_PER_CHECK
    assert young_threshold(concurrency=1) == PYTHON_YOUNG_THRESHOLD
    assert young_threshold(concurrency=10_000) == YOUNG_THRESHOLD_MAX


def test_setting_is_undone_on_exit() -> None:
    before = gc.get_threshold()
    with young_collections_for(concurrency=200):
        assert gc.get_threshold() == (200 * OBJECTS_PER_CHECK, *before[1:])
    assert gc.get_threshold() == before


def _hold_checks_in_flight(checks: int) -> list[list[object]]:
    """What `checks` checks in flight hold: about 70 tracked objects each (measured, see module)."""
    return [[[] for _ in range(70)] for _ in range(checks)]


def test_a_group_of_checks_in_flight_no_longer_sets_off_young_collections(
    young_collections: list[int],
) -> None:
    """The reason for the setting: with Python's default a full group of workers' live objects
    set off collections that find nothing to free; with the setting it sets off none."""
    gc.collect()  # start each part from an empty young generation
    young_collections.clear()
    held = _hold_checks_in_flight(200)
    assert len(young_collections) > 10  # Python's default: one every 700 objects
    del held
    with young_collections_for(concurrency=200):
        gc.collect()
        young_collections.clear()
        held = _hold_checks_in_flight(200)
        assert young_collections == []
        del held


def test_garbage_cycles_are_still_collected_by_young_collections(
    young_collections: list[int],
) -> None:
    """Only spaced out: cycles that pile up past the threshold are freed without a full
    collection."""

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    with young_collections_for(concurrency=10):  # threshold 1,280: quick to pass
        gc.collect()
        young_collections.clear()
        for _ in range(5 * young_threshold(concurrency=10)):
            Cycle()
        assert young_collections
        assert gc.get_count()[0] < young_threshold(concurrency=10)
