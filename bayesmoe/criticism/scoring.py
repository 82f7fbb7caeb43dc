"""Scores of predictive draws against held-out observations (one home for every backtest).

Proper scoring rules (Gneiting & Raftery 2007): the interval score of a central interval,
the continuous ranked probability score (CRPS), and the log predictive density; plus
coverage, width and the median's error. Lower is better for scores, except the log density.
"""

from __future__ import annotations

import numpy as np

from bayesmoe.config import BAND_LEVELS, INTERVAL_PROB
from bayesmoe.intervals import eti


def interval_score(lo: np.ndarray, hi: np.ndarray, y: np.ndarray, prob: float) -> np.ndarray:
    """Gneiting & Raftery 2007, Eq. 43: width plus 2/alpha times the miss, alpha = 1 - prob."""
    alpha = 1 - prob
    return (hi - lo) + (2 / alpha) * np.maximum(lo - y, 0) + (2 / alpha) * np.maximum(y - hi, 0)


def crps(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sample CRPS per column of ``draws`` (draws x points): E|X - y| - E|X - X'| / 2, in O(n log n)."""
    x = np.sort(draws, axis=0)
    n = x.shape[0]
    first = np.mean(np.abs(x - y[None, :]), axis=0)
    # E|X - X'| = 2 / n^2 * sum_i (2i - n - 1) x_(i)  for sorted x (i = 1..n)
    weights = (2 * np.arange(1, n + 1) - n - 1)[:, None]
    second = 2 * np.sum(weights * x, axis=0) / n**2
    return first - 0.5 * second


def score_draws(rep: np.ndarray, y: np.ndarray, *, has_mean: bool = True) -> dict[str, float]:
    """Coverage at every band level, the interval score and width at the default level, CRPS and
    the predictive median's absolute and relative error - all averaged over points.

    ``has_mean=False`` for draws of a predictive without a finite mean (Student-t noise on log
    loss: :data:`bayesmoe.laws.observation.NO_LOSS_MEAN`): its CRPS is infinite, and reported
    so rather than as the unsettled sample estimate; the other scores hold as they are.
    """
    out: dict[str, float] = {}
    for level in BAND_LEVELS:
        lo, hi = eti(rep, level, axis=0)
        out[f"coverage_{int(level * 100)}"] = float(np.mean((y >= lo) & (y <= hi)))
    lo, hi = eti(rep, INTERVAL_PROB, axis=0)
    tag = int(INTERVAL_PROB * 100)
    out[f"interval_score_{tag}"] = float(np.mean(interval_score(lo, hi, y, INTERVAL_PROB)))
    out[f"mean_width_{tag}"] = float(np.mean(hi - lo))
    out["crps"] = float(np.mean(crps(rep, y))) if has_mean else float("inf")
    med = np.median(rep, axis=0)
    out["median_abs_error"] = float(np.median(np.abs(med - y)))
    out["median_rel_error"] = float(np.median(np.abs(med - y) / y))
    return out
