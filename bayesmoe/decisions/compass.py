"""Vectorised compass search: the minimum of a smooth objective over a box in log size,
for every posterior draw at once (a coarse grid, then 3^d-point stencils whose step halves
when no neighbour improves)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import numpy as np


def coarse_points(d: int) -> int:
    """Points per axis of the coarse grid in ``d`` dimensions."""
    return 64 if d == 1 else 16


def coarse_step(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The coarse grid's spacing on each axis."""
    return (hi - lo) / (coarse_points(len(lo)) - 1)


def zoom(
    objective: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    rows: int,
    start: np.ndarray | None = None,
    step: np.ndarray | None = None,
    tol: float = 5e-4,
    max_rounds: int = 80,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``objective(z, rows)`` (rows x candidates; ``rows`` indexes the rows of ``z``)
    over a box, for every row at once.

    A coarse grid (skipped when ``start`` gives each row's starting point, with the initial
    ``step``; default a quarter of the coarse spacing), then a compass search: each round
    tries the 3^d - 1 neighbours at the row's step, moves to the best, and halves the step
    when none improves, until every step is below ``tol`` (in log size: 0.05 %). Losses of
    power laws are convex in log size, so this local search finds the optimum.
    """
    d = len(lo)
    step0 = coarse_step(lo, hi)
    every = slice(None)
    at = np.arange(rows)
    if start is None:
        axes = [np.linspace(lo[j], hi[j], coarse_points(d)) for j in range(d)]
        grid = np.array(list(itertools.product(*axes)))  # (m, d)
        z = np.broadcast_to(grid, (rows, *grid.shape))
        f = objective(z, every)
        best = np.argmin(f, axis=1)
        centre, f_best = z[at, best], f[at, best]
        step = np.broadcast_to(step0, (rows, d)).copy()
    else:
        centre = np.clip(np.asarray(start, float).reshape(rows, d), lo, hi)
        f_best = objective(centre[:, None, :], every)[:, 0]
        step = np.broadcast_to(step0 / 4 if step is None else step, (rows, d)).astype(float)
    offsets = np.array([o for o in itertools.product((-1.0, 0.0, 1.0), repeat=d) if any(o)])  # (3^d - 1, d)
    for _ in range(max_rounds):
        if np.all(step < tol):
            break
        z = np.minimum(np.maximum(centre[:, None, :] + offsets[None] * step[:, None, :], lo), hi)
        f = objective(z, every)
        best = np.argmin(f, axis=1)
        f_new = f[at, best]
        moved = f_new < f_best
        centre[moved] = z[at[moved], best[moved]]
        f_best[moved] = f_new[moved]
        step[~moved & np.any(step >= tol, axis=1)] /= 2
    return centre, f_best


def predicted_start(
    p: Mapping[str, np.ndarray], sub: np.ndarray, z_sub: np.ndarray, coarse: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each draw's starting sizes: a linear regression of the subsample ``sub``'s optima
    ``z_sub`` on the parameters (an optimum moves smoothly with them), and a step covering
    the regression's residuals (at most ``coarse``), so most draws need only a few halvings."""
    varying = [v[:, 0] for v in p.values() if np.ptp(v) > 0]
    n = len(next(iter(p.values())))
    x = np.column_stack([np.ones(n)] + [(v - v.mean()) / v.std() for v in varying])
    if x.shape[1] > sub.size // 8:  # too many parameters for 256 draws: start at the median
        start = np.broadcast_to(np.median(z_sub, axis=0), (n, z_sub.shape[1]))
        spread = np.subtract(*np.quantile(z_sub, [0.95, 0.05], axis=0))
    else:
        coef, *_ = np.linalg.lstsq(x[sub], z_sub, rcond=None)
        start = x @ coef
        spread = 2 * np.quantile(np.abs(z_sub - start[sub]), 0.95, axis=0)
    return start, np.clip(spread, 4e-3, coarse)
