"""Vectorised compass search: the minimum of a smooth objective over a box in log size,
for every posterior draw at once (a coarse grid, then 3^d-point stencils whose step halves
when no neighbour improves), each stencil also proposing the Newton point of the quadratic
through it, which is taken where it is better."""

from __future__ import annotations

import functools
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
    offsets = stencil(d)
    for _ in range(max_rounds):
        if np.all(step < tol):
            break
        wanted = centre[:, None, :] + offsets[None] * step[:, None, :]
        z = np.minimum(np.maximum(wanted, lo), hi)
        f = objective(z, every)
        best = np.argmin(f, axis=1)
        f_new = f[at, best]
        moved = f_new < f_best
        # the Newton point of the quadratic through the stencil (in units of the step)
        du = newton_offsets(f_best, f, offsets, clipped=np.any(z != wanted, axis=-1))
        z_n = np.minimum(np.maximum(centre + du * step, lo), hi)
        f_n = objective(z_n[:, None, :], every)[:, 0]
        modelled = np.any(du != 0, axis=1)
        newton = (f_n < np.minimum(f_new, f_best)) & modelled
        centre[moved] = z[at[moved], best[moved]]
        f_best[moved] = f_new[moved]
        # the error left after a Newton step is of the order of its size: the next stencil spans
        # twice that, but at least an eighth of the last one, so a poor model cannot end the search
        # (where neither improved, a model that puts the minimum within the stencil shrinks it
        # as far; without one the step halves)
        target = np.clip(2 * np.abs(du * step), step / 8, step)
        centre[newton], f_best[newton] = z_n[newton], f_n[newton]
        step[newton] = target[newton]
        stuck = ~moved & ~newton & np.any(step >= tol, axis=1)
        step[stuck] = np.where(modelled[stuck, None], np.minimum(target[stuck], step[stuck] / 2), step[stuck] / 2)
    return centre, f_best


@functools.cache
def stencil(d: int) -> np.ndarray:
    """The 3^d - 1 neighbours of a stencil's centre, in units of its step: (3^d - 1, d)."""
    out = np.array([o for o in itertools.product((-1.0, 0.0, 1.0), repeat=d) if any(o)])
    out.flags.writeable = False  # shared by every call
    return out


@functools.cache
def _quadratic_design(d: int) -> tuple[np.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
    """Least-squares map from a 3^d stencil's values (centre first) to the coefficients of a
    quadratic in the offsets: constant, gradient, then the Hessian's upper triangle; the pairs
    of that triangle; and per axis the columns of its +1 and -1 neighbours (others at 0)."""
    offsets = stencil(d)
    u = np.vstack([np.zeros(d), offsets])
    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    cols = [np.ones(len(u)), *u.T, *(u[:, i] * u[:, j] * (0.5 if i == j else 1.0) for i, j in pairs)]
    on_axis = []
    for j in range(d):
        rest = np.all(np.delete(offsets, j, axis=1) == 0, axis=1)
        plus, minus = np.flatnonzero(rest & (offsets[:, j] == 1))[0], np.flatnonzero(rest & (offsets[:, j] == -1))[0]
        on_axis.append((int(plus), int(minus)))
    return np.linalg.pinv(np.column_stack(cols)), pairs, on_axis


def newton_offsets(f0: np.ndarray, f: np.ndarray, offsets: np.ndarray, clipped: np.ndarray) -> np.ndarray:
    """Each row's Newton step (in units of its stencil step; at most 2) from its stencil values
    ``f`` around ``f0``, or 0 where the quadratic is not convex. A row whose stencil the box
    clipped, or that has a non-finite value (an infeasible neighbour), gets a one-dimensional
    step only along the axes whose two neighbours are in place and finite."""
    rows, d = len(f0), offsets.shape[1]
    pinv, pairs, on_axis = _quadratic_design(d)
    vals = np.column_stack([f0, f])
    ok = np.all(np.isfinite(vals), axis=1)
    coef = np.where(ok[:, None], vals, 0.0) @ pinv.T
    g = coef[:, 1 : 1 + d]
    h = np.zeros((rows, d, d))
    for c, (i, j) in enumerate(pairs):
        h[:, i, j] = h[:, j, i] = coef[:, 1 + d + c]
    # per axis, its -1 and +1 neighbours (others at 0): whether both kept their place, and the
    # central differences through them (exact for a quadratic along the axis, whatever the
    # box did to the other points)
    axis_kept = np.ones((rows, d), bool)
    g_axis, h_axis = np.zeros((rows, d)), np.zeros((rows, d))
    for j, (plus, minus) in enumerate(on_axis):
        axis_kept[:, j] = ~(clipped[:, plus] | clipped[:, minus])
        with np.errstate(invalid="ignore"):
            g_axis[:, j] = (f[:, plus] - f[:, minus]) / 2
            h_axis[:, j] = f[:, plus] - 2 * f0 + f[:, minus]
    whole = ok & ~np.any(clipped, axis=1)
    du = np.zeros((rows, d))
    if whole.any():
        hw, gw = h[whole], g[whole]
        convex = np.all(np.linalg.eigvalsh(hw) > 0, axis=1)
        step = np.zeros_like(gw)
        step[convex] = -np.linalg.solve(hw[convex], gw[convex][..., None])[..., 0]
        du[whole] = step
    part = ~whole & np.any(axis_kept, axis=1)
    if part.any():  # one-dimensional Newton along each kept axis
        gp, hp = g_axis[part], h_axis[part]
        use = axis_kept[part] & np.isfinite(gp) & np.isfinite(hp) & (hp > 0)
        du[part] = np.where(use, -np.where(use, gp, 0.0) / np.where(use, hp, 1.0), 0.0)
    big = np.max(np.abs(du), axis=1, keepdims=True)
    return np.where(big > 2, du * 2 / np.maximum(big, 1e-300), du)


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
