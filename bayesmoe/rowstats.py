"""Mean and quantiles of every row of a large table of draws, fast (the reduction of surfaces).

A quantile surface reduces billions of values (cells x draws) to a few numbers per cell.
``np.quantile`` partitions each row for all the order statistics it needs at once (six for
three interpolated quantiles), which takes NumPy's slower multi-pivot path. Here each block of
rows is partitioned once per order statistic with a single pivot (NumPy's vectorised select),
in nested ranges - the middle statistic over the whole row, then those below it left of it and
those above it right of it - so later selections work on ever shorter ranges; blocks of rows
run on all cores (NumPy releases the GIL). The result equals ``np.quantile(..., method="linear")``
and the row mean; rows holding a non-finite value fall back to ``np.quantile``, which propagates
NaN as it does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Rows per block handed to one thread (a block of 4,000-draw rows is ~8 MB).
BLOCK_ROWS = 256


def _plan(ks: np.ndarray) -> list[tuple[int, int, int]]:
    """(k, lo, hi) in selection order: the middle order statistic over the whole row first,
    then recursively each side within the fences already placed."""
    out: list[tuple[int, int, int]] = []

    def visit(a: int, b: int, lo: int, hi: int) -> None:
        if a > b:
            return
        mid = (a + b) // 2
        k = int(ks[mid])
        out.append((k, lo, hi))
        visit(a, mid - 1, lo, k)
        visit(mid + 1, b, k, hi)

    visit(0, len(ks) - 1, 0, -1)
    return out


def _select_block(block: np.ndarray, steps: list[tuple[int, int, int]], m: int) -> np.ndarray:
    """Order statistics ``k`` of every row of ``block`` (partitioned in place), in ``steps`` order."""
    out = np.empty((block.shape[0], len(steps)))
    for t, (k, lo, hi) in enumerate(steps):
        hi = m if hi < 0 else hi + 1
        view = block[:, lo:hi]
        view.partition(k - lo, axis=1)
        out[:, t] = block[:, k]
    return out


def row_mean_quantiles(values: np.ndarray, quantiles: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Mean (n,) and quantiles (len(quantiles), n) of each row of ``values`` (n x draws).

    ``values`` is not modified (each block is copied before it is partitioned).
    """
    values = np.asarray(values, dtype=np.float64)
    n, m = values.shape
    pos = np.asarray(quantiles, float) * (m - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1)
    ks = np.unique(np.concatenate([lo, hi]))
    steps = _plan(ks)
    column = {k: t for t, (k, _, _) in enumerate(steps)}
    mean = values.mean(axis=1)
    qs = np.empty((len(pos), n))
    finite = np.isfinite(values).all(axis=1)
    rows = np.flatnonzero(finite)

    def work(idx: np.ndarray) -> None:
        stats = _select_block(values[idx], steps, m)  # fancy indexing copies: values stay intact
        low = stats[:, [column[int(k)] for k in lo]]
        high = stats[:, [column[int(k)] for k in hi]]
        qs[:, idx] = (low + (high - low) * (pos - lo)).T  # numpy's "linear" method: a + (b - a) * frac

    blocks = [rows[i : i + BLOCK_ROWS] for i in range(0, len(rows), BLOCK_ROWS)]
    workers = min(len(blocks), os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, blocks))
    else:
        for b in blocks:
            work(b)
    if not finite.all():
        qs[:, ~finite] = np.quantile(values[~finite], quantiles, axis=1)
    return mean, qs
