"""Runs: the table of training runs a law is fitted to, its columns, units and bundled datasets.

Public surface: :class:`Runs`, :func:`load_runs`, :mod:`datasets` (bundled real runs),
:data:`CANONICAL` / :data:`UNITS` (column names as the papers write them) and the FLOPs
formula in :mod:`bayesmoe.runs.compute`.
"""

from bayesmoe.runs import datasets
from bayesmoe.runs.columns import CANONICAL, SIZE_COLUMNS, UNITS
from bayesmoe.runs.compute import compute_of, flops_per_token, tokens_for_budget, training_flops
from bayesmoe.runs.table import Runs, load_runs

__all__ = [
    "CANONICAL",
    "SIZE_COLUMNS",
    "UNITS",
    "Runs",
    "compute_of",
    "datasets",
    "flops_per_token",
    "load_runs",
    "tokens_for_budget",
    "training_flops",
]
