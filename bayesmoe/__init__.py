"""bayesmoe: Bayesian scaling laws for Mixture-of-Experts language models.

The workflow reads ``runs -> laws -> fit -> check -> predict -> decide -> criticise -> report``
(one sub-package per stage; see ARCHITECTURE.md)::

    import bayesmoe as bm

    runs = bm.datasets.clark2022(router="S-Base")
    fit = bm.fit("clark2022", runs)
    fit.diagnostics()
    loss = bm.predict(fit, runs.df[fit.law.inputs])

The names below are imported on first use (PEP 562), so ``import bayesmoe`` and the command
line's ``--help`` do not pay for PyMC, ArviZ and SymPy until a verb needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayesmoe._version import __version__

#: public name -> the module that defines it
_EXPORTS = {
    "INTERVAL_PROB": "bayesmoe.config",
    "BayesMoEError": "bayesmoe.errors",
    "FitError": "bayesmoe.errors",
    "FitFileError": "bayesmoe.errors",
    "LawError": "bayesmoe.errors",
    "MissingExtraError": "bayesmoe.errors",
    "PlanError": "bayesmoe.errors",
    "PriorError": "bayesmoe.errors",
    "RunsError": "bayesmoe.errors",
    "SamplingWarning": "bayesmoe.errors",
    "Runs": "bayesmoe.runs",
    "datasets": "bayesmoe.runs",
    "load_runs": "bayesmoe.runs",
    "Law": "bayesmoe.laws",
    "Prior": "bayesmoe.laws",
    "get_law": "bayesmoe.laws",
    "list_laws": "bayesmoe.laws",
    "register_law": "bayesmoe.laws",
    "simulate": "bayesmoe.laws",
    "Fit": "bayesmoe.inference",
    "fit": "bayesmoe.inference",
    "identifiability": "bayesmoe.inference",
    "load": "bayesmoe.inference",
    "new_group_priors": "bayesmoe.inference",
    "Plan": "bayesmoe.decisions",
    "budget_for_target": "bayesmoe.decisions",
    "near_optimal_band": "bayesmoe.decisions",
    "optima": "bayesmoe.decisions",
    "plan": "bayesmoe.decisions",
    "plan_sweep": "bayesmoe.decisions",
    "what_if": "bayesmoe.decisions",
    "predict": "bayesmoe.decisions",
    "surface_summary": "bayesmoe.decisions",
    "uncertainty_budget": "bayesmoe.decisions",
    "backtest": "bayesmoe.criticism",
    "calibrate": "bayesmoe.criticism",
    "compare": "bayesmoe.criticism",
    "learn_discrepancy": "bayesmoe.criticism",
    "leave_future_out": "bayesmoe.criticism",
    "stacking_weights": "bayesmoe.criticism",
    "stack": "bayesmoe.criticism",
    "Stacked": "bayesmoe.decisions",
    "design": "bayesmoe.decisions",
}
_SUBPACKAGES = ("runs", "laws", "inference", "decisions", "criticism", "viz", "cli", "config", "errors", "intervals")

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
    "Stacked",
    "__version__",
    "backtest",
    "budget_for_target",
    "calibrate",
    "compare",
    "datasets",
    "design",
    "fit",
    "get_law",
    "identifiability",
    "learn_discrepancy",
    "leave_future_out",
    "list_laws",
    "load",
    "load_runs",
    "near_optimal_band",
    "new_group_priors",
    "optima",
    "plan",
    "plan_sweep",
    "predict",
    "register_law",
    "simulate",
    "stack",
    "stacking_weights",
    "surface_summary",
    "uncertainty_budget",
    "what_if",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"bayesmoe.{name}")
    else:
        raise AttributeError(f"module 'bayesmoe' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBPACKAGES))


if TYPE_CHECKING:  # what static tools and IDEs see
    from bayesmoe.config import INTERVAL_PROB
    from bayesmoe.criticism import (
        backtest,
        calibrate,
        compare,
        learn_discrepancy,
        leave_future_out,
        stack,
        stacking_weights,
    )
    from bayesmoe.decisions import (
        Plan,
        Stacked,
        budget_for_target,
        design,
        near_optimal_band,
        optima,
        plan,
        plan_sweep,
        predict,
        surface_summary,
        uncertainty_budget,
        what_if,
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
    from bayesmoe.inference import Fit, fit, identifiability, load, new_group_priors
    from bayesmoe.laws import Law, Prior, get_law, list_laws, register_law, simulate
    from bayesmoe.runs import Runs, datasets, load_runs
