"""Mean and quantiles of every row of a large table of draws, fast (the reduction of surfaces).

A quantile surface reduces billions of values (cells x draws) to a few numbers per cell.
``np.quantile`` partitions each row for all the order statistics it needs at once (six for
three interpolated quantiles), which takes NumPy's slower multi-pivot path. Here each block of
rows is partitioned once per order statistic with a single pivot (NumPy's vectorised select),
in nested ranges - the middle statistic over the whole row, then those below it left of it and
those above it right of it, each strictly between the statistics already placed - and a
statistic right next to a placed one is a plain minimum; blocks of rows run on all cores (NumPy
releases the GIL). The result equals ``np.quantile(..., method="linear")`` and the row mean;
rows holding a non-finite value fall back to ``np.quantile``, which propagates NaN as it does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Rows per block handed to one thread (a block of 4,000-draw rows is ~8 MB).
BLOCK_ROWS = 256


def _plan(ks: np.ndarray, m: int) -> list[tuple[int, int, int]]:
    """(k, lo, hi) in selection order: the middle order statistic over the whole row first, then
    recursively each side, strictly between the fences already placed (``lo < k < hi``; -1 and m
    when there is none), so that a placed order statistic never moves again."""
    out: list[tuple[int, int, int]] = []

    def visit(a: int, b: int, lo: int, hi: int) -> None:
        if a > b:
            return
        mid = (a + b) // 2
        k = int(ks[mid])
        out.append((k, lo, hi))
        visit(a, mid - 1, lo, k)
        visit(mid + 1, b, k, hi)

    visit(0, len(ks) - 1, -1, m)
    return out


def _select_block(block: np.ndarray, steps: list[tuple[int, int, int]]) -> np.ndarray:
    """Order statistics ``k`` of every row of ``block`` (rearranged in place), in ``steps`` order."""
    out = np.empty((block.shape[0], len(steps)))
    rows = np.arange(block.shape[0])
    for t, (k, lo, hi) in enumerate(steps):
        view = block[:, lo + 1 : hi]  # exactly the values of ranks lo + 1 ... hi - 1
        if k == lo + 1:
            # the smallest of them: one vectorised pass, then moved into place as a fence
            j = view.argmin(axis=1) + lo + 1
            block[rows, k], block[rows, j] = block[rows, j], block[rows, k]
        else:
            view.partition(k - lo - 1, axis=1)
        out[:, t] = block[:, k]
    return out


def row_mean_quantiles(
    values: np.ndarray, quantiles: Sequence[float], *, overwrite_input: bool = False, threads: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Mean (n,) and quantiles (len(quantiles), n) of each row of ``values`` (n x draws).

    ``values`` is left intact (each block is copied before it is partitioned) unless
    ``overwrite_input``, as in ``np.quantile``: then its rows are rearranged in place, which
    saves a copy when the table is a temporary. ``threads``: how many blocks of rows run at once
    (default: one per core; 1 when the caller already runs tables in parallel).
    """
    values = np.asarray(values, dtype=np.float64)
    n, m = values.shape
    pos = np.asarray(quantiles, float) * (m - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, m - 1)
    ks = np.unique(np.concatenate([lo, hi]))
    steps = _plan(ks, m)
    column = {k: t for t, (k, _, _) in enumerate(steps)}
    mean = np.empty(n)
    qs = np.empty((len(pos), n))

    def work(start: int) -> None:
        stop = min(start + BLOCK_ROWS, n)
        # a slice is a view (rearranged in place); a copy leaves values intact
        block = values[start:stop] if in_place else values[start:stop].copy()
        mean[start:stop] = block.mean(axis=1)
        stats = _select_block(block, steps)
        low = stats[:, [column[int(k)] for k in lo]]
        high = stats[:, [column[int(k)] for k in hi]]
        qs[:, start:stop] = (low + (high - low) * (pos - lo)).T  # numpy's "linear" method: a + (b - a) * frac

    in_place = overwrite_input and values.flags.writeable and values.flags.c_contiguous
    starts = range(0, n, BLOCK_ROWS)
    workers = min(len(starts), threads or os.cpu_count() or 1)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, starts))
    else:
        for start in starts:
            work(start)
    # a NaN or infinity in a row makes its mean non-finite and its selection meaningless: those rows
    # (rearranged or not, the same values) are redone by np.quantile, which propagates NaN
    finite = np.isfinite(mean)
    if not finite.all():
        qs[:, ~finite] = np.quantile(values[~finite], quantiles, axis=1)
    return mean, qs
