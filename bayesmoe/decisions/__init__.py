"""Decisions: turn a posterior into predictions, optima and compute plans with credible intervals.

Public surface: :func:`predict` / :func:`surface_summary` (loss over a grid per draw),
:func:`uncertainty_budget` (a prediction's width by source),
:func:`optima` (the law's closed-form optima per draw), :func:`plan` and :class:`Plan`
(the compute-optimal run for a budget: per-draw optima, the Bayes decision, P(near-optimal)),
:func:`near_optimal_band`, :func:`budget_for_target`, :func:`plan_sweep` (plans over budgets)
and :func:`what_if` (a chosen run's loss and regret), :class:`Stacked` (a weighted mixture of
laws' fits that all of these accept like one fit), and the architecture mapping of
:mod:`bayesmoe.decisions.architecture`.
"""

from bayesmoe.decisions.closed_forms import discrete_optimum, optima, summarize_optima
from bayesmoe.decisions.mixture import Stacked
from bayesmoe.decisions.next_runs import Design, design
from bayesmoe.decisions.planning import Plan, plan
from bayesmoe.decisions.prediction import predict, surface_summary, uncertainty_budget
from bayesmoe.decisions.search import NEAR_OPTIMAL, RISKS, Limits
from bayesmoe.decisions.targets import budget_for_target, near_optimal_band
from bayesmoe.decisions.whatif import plan_sweep, what_if

__all__ = [
    "NEAR_OPTIMAL",
    "RISKS",
    "Design",
    "Limits",
    "Plan",
    "Stacked",
    "budget_for_target",
    "design",
    "discrete_optimum",
    "near_optimal_band",
    "optima",
    "plan",
    "plan_sweep",
    "predict",
    "summarize_optima",
    "surface_summary",
    "uncertainty_budget",
    "what_if",
]
