"""bayesmoe: Bayesian scaling laws for Mixture-of-Experts language models.

The workflow reads ``runs -> laws -> fit -> check -> predict -> decide -> criticise -> report``
(one sub-package per stage; see ARCHITECTURE.md)::

    import bayesmoe as bm

    runs = bm.datasets.clark2022(router="S-Base")
    fit = bm.fit("clark2022", runs)
    fit.diagnostics()
    loss = bm.predict(fit, runs.df)
"""

from __future__ import annotations

from bayesmoe._version import __version__
from bayesmoe.config import INTERVAL_PROB
from bayesmoe.criticism import backtest, calibrate, compare, leave_future_out, stacking_weights
from bayesmoe.decisions import (
    Plan,
    budget_for_target,
    near_optimal_band,
    optima,
    plan,
    predict,
    surface_summary,
    uncertainty_budget,
)
from bayesmoe.errors import (
    BayesMoEError,
    FitError,
    FitFileError,
    LawError,
    MissingExtraError,
    PlanError,
    PriorError,
    RunsError,
    SamplingWarning,
)
from bayesmoe.inference import Fit, fit, identifiability, load
from bayesmoe.laws import Law, Prior, get_law, list_laws, register_law, simulate
from bayesmoe.runs import Runs, datasets, load_runs

__all__ = [
    "INTERVAL_PROB",
    "BayesMoEError",
    "Fit",
    "FitError",
    "FitFileError",
    "Law",
    "LawError",
    "MissingExtraError",
    "Plan",
    "PlanError",
    "Prior",
    "PriorError",
    "Runs",
    "RunsError",
    "SamplingWarning",
    "__version__",
    "backtest",
    "budget_for_target",
    "calibrate",
    "compare",
    "datasets",
    "fit",
    "get_law",
    "identifiability",
    "leave_future_out",
    "list_laws",
    "load",
    "load_runs",
    "near_optimal_band",
    "optima",
    "plan",
    "predict",
    "register_law",
    "simulate",
    "stacking_weights",
    "surface_summary",
    "uncertainty_budget",
]
