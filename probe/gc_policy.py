"""How the probe's process uses Python's garbage collector: two settings, both measured.

1. Young collections wait for real garbage. A check in flight holds about 70 GC-tracked objects
   (request, response, protocol, timers, frames). A group of 150 to 200 checks started together
   holds 10,000 to 14,000 of them, so with Python's default (a young collection every 700 new
   objects) collections ran again and again mid-group, found every object alive, and promoted
   them to be scanned again by the middle generation: 1.0 to 1.4 s of a 13 to 15 s run at
   10,000 targets a minute (3,064 young and 278 middle collections). With room for
   OBJECTS_PER_CHECK objects per worker, a collection comes only when garbage has piled up
   (at a threshold of 20,000: 8 young and 1 middle collection, 0.08 s; bench/README.md has
   the runs).
2. The targets are frozen after each changed target list (`refreeze`): see there.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

PYTHON_YOUNG_THRESHOLD = 700  # CPython's default for generation 0
OBJECTS_PER_CHECK = 128  # about 70 measured, with room
YOUNG_THRESHOLD_MAX = 200_000  # at most some tens of MB of uncollected cycles


def young_threshold(*, concurrency: int) -> int:
    """Objects allocated (net) between young collections for `concurrency` checks in flight."""
    return max(PYTHON_YOUNG_THRESHOLD, min(YOUNG_THRESHOLD_MAX, OBJECTS_PER_CHECK * concurrency))


@contextlib.contextmanager
def young_collections_for(*, concurrency: int) -> Iterator[None]:
    """Space young collections for `concurrency` checks in flight; the old setting after."""
    before = gc.get_threshold()
    gc.set_threshold(young_threshold(concurrency=concurrency), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def refreeze() -> None:
    """Keep the long-lived heap (targets, specs, jobs) out of the collector's way.

    Tens of thousands of targets, specs and jobs are long-lived objects that every full
    collection would scan again while the checks allocate: at 50,000 targets that was 11 to 24 %
    of the probe's CPU (bench/README.md). Frozen, they are scanned no more; refcounting still
    frees the ones a later target list drops. Thawed first: a cycle that was alive at the last
    freeze and is garbage now is collected here, instead of staying frozen for the probe's
    lifetime. Costs one full collection per call.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
