"""Shared helpers for the benchmark scripts: time, measure memory, print one JSON line.

Every measurement prints exactly one JSON object on its own line::

    {"bench": NAME, "n": N, "ours_s": T, "baseline": WHAT, "baseline_s": T,
     "ratio": R, "target": TEXT, "peak_mb": M}

``baseline_s`` is measured in the same run as ``ours_s`` (never a stored
figure). ``ratio`` is ``baseline_s / ours_s``. ``peak_mb`` is the peak of
Python allocations during one call of our function, measured with
:mod:`tracemalloc` (so it excludes the interpreter's own baseline and memory
allocated outside Python's allocator).
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

__all__ = ["emit", "peak_mb", "timed"]


def timed(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1) -> float:
    """The best wall-clock time of ``repeat`` calls of ``fn`` (seconds), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(max(repeat, 1)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def peak_mb(fn: Callable[[], Any]) -> float:
    """Peak Python memory allocated during one call of ``fn``, in MB (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6


def emit(
    bench: str,
    *,
    n: int,
    ours_s: float,
    baseline: str,
    baseline_s: float,
    target: str,
    peak_mb: float,
    **extra: Any,
) -> dict[str, Any]:
    """Print one JSON line for a measurement and return it as a dict."""
    record: dict[str, Any] = {
        "bench": bench,
        "n": n,
        "ours_s": round(ours_s, 6),
        "baseline": baseline,
        "baseline_s": round(baseline_s, 6),
        "ratio": round(baseline_s / ours_s, 1) if ours_s > 0 else None,
        "target": target,
        "peak_mb": round(peak_mb, 3),
    }
    record.update(extra)
    print(json.dumps(record), file=sys.stdout, flush=True)
    return record
