"""Viz: figures (keyword-only ``ax``/``axes``, units on every axis) and the self-contained HTML report.

Public surface: the ``plot_*`` functions of :mod:`bayesmoe.viz.plots` and
:func:`write_report` / :func:`build_report`. Plots of a plan take computed plans.
"""

from bayesmoe.viz.plots import (
    plot_backtest,
    plot_comparison,
    plot_design,
    plot_diagnostics,
    plot_extrapolation,
    plot_isoflop,
    plot_near_optimal,
    plot_optima,
    plot_optimum_vs_budget,
    plot_pair,
    plot_runs,
    plot_surface,
)
from bayesmoe.viz.report import build_report, write_report

__all__ = [
    "build_report",
    "plot_backtest",
    "plot_comparison",
    "plot_design",
    "plot_diagnostics",
    "plot_extrapolation",
    "plot_isoflop",
    "plot_near_optimal",
    "plot_optima",
    "plot_optimum_vs_budget",
    "plot_pair",
    "plot_runs",
    "plot_surface",
    "write_report",
]
