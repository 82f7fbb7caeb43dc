"""Criticism: is the law right, and how far can it be trusted beyond its runs?

Public surface: :func:`compare` (PSIS-LOO with stacking weights; exact refits of flagged
runs through ``az.reloo``), :func:`backtest` (fit the cheap runs, score the expensive ones,
with the Huber point-fit baseline), :func:`leave_future_out` and
:func:`stacking_weights` (one-step-ahead CV ordered by compute), :func:`stack` (a stacked
predictive over laws, by leave-future-out or PSIS-LOO stacking), :func:`huber_fit` (that baseline; needs
``bayesmoe[jax]``) and :func:`calibrate` (simulation-based calibration on Dask; needs
``bayesmoe[dask]``), :func:`learn_discrepancy` (the discrepancy scale learned from how the
law fitted to a user's cheaper runs predicts their larger ones).
"""

from bayesmoe.criticism.backtesting import Backtest, BacktestError, backtest, split_runs
from bayesmoe.criticism.baseline import PointFit, huber_fit
from bayesmoe.criticism.calibration import Calibration, calibrate
from bayesmoe.criticism.comparison import CompareError, Comparison, RefitWrapper, compare
from bayesmoe.criticism.discrepancy import learn_discrepancy
from bayesmoe.criticism.future import LeaveFutureOut, leave_future_out, stack, stacking_weights

__all__ = [
    "Backtest",
    "BacktestError",
    "Calibration",
    "CompareError",
    "Comparison",
    "LeaveFutureOut",
    "PointFit",
    "RefitWrapper",
    "backtest",
    "calibrate",
    "compare",
    "huber_fit",
    "learn_discrepancy",
    "leave_future_out",
    "split_runs",
    "stack",
    "stacking_weights",
]
