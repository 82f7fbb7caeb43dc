"""Planning tools around :func:`plan`: a sweep over budgets and the what-if of a chosen run.

:func:`plan_sweep` answers "how do the optimum and its uncertainty move with the budget?" as an
xarray Dataset over ``budget``; :func:`what_if` answers "what does *this* configuration give, and
how much worse is it than the optimum?" with the loss distribution and the regret per draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.decisions.mixture import Stacked, label
from bayesmoe.decisions.planning import plan
from bayesmoe.decisions.prediction import predict
from bayesmoe.decisions.search import near_optimal_share
from bayesmoe.errors import PlanError
from bayesmoe.intervals import eti, eti_labels
from bayesmoe.progress import track
from bayesmoe.runs.compute import tokens_for_budget, training_flops

#: The statistics of each planned quantity along a sweep.
SWEEP_STATS = ("median", *eti_labels(), "decision")


def plan_sweep(fit: Any, budgets: Sequence[float], *, progress: bool | None = None, **plan_kwargs: Any) -> xr.Dataset:
    """:func:`plan` at each budget: per planned quantity (N, N_a, D, G, S, loss) its median,
    equal-tailed interval and the decision, over dims ``budget`` and ``stat``; plus the mean
    loss of the decision, P(near-optimal) and how far each plan extrapolates in compute."""
    budgets = sorted(float(b) for b in budgets)
    if not budgets:
        raise PlanError("plan_sweep needs at least one budget")
    plans = [plan(fit, b, **plan_kwargs) for b in track(budgets, "plan sweep", progress=progress)]
    tables = [p.summary() for p in plans]
    names = list(tables[0].index)
    cols = list(SWEEP_STATS)
    ds = xr.Dataset(
        {k: (("budget", "stat"), np.array([[float(t.loc[k, c]) for c in cols] for t in tables])) for k in names},
        coords={"budget": budgets, "stat": cols},
    )
    units = fit.runs.units()
    for k in names:
        ds[k].attrs["units"] = units.get(k, "")
    ds["decision_loss_mean"] = ("budget", [float(p.decision_loss.mean()) for p in plans])
    ds["decision_loss_mean"].attrs["units"] = fit.runs.loss_unit
    ds["p_near_optimal"] = ("budget", [p.near_optimal_probability for p in plans])
    ds["compute_beyond_data"] = ("budget", [p.extrapolation.get("C", np.nan) for p in plans])
    ds["compute_beyond_data"].attrs["description"] = "budget / the largest training run's compute"
    ds["budget"].attrs["units"] = "FLOPs"
    ds.attrs.update(law=label(fit), risk=plans[0].risk, notes="; ".join(n for p in plans for n in p.notes))
    return ds


def what_if(
    fit: Any,
    config: Mapping[str, float],
    *,
    budget: float | None = None,
    group: str | None = None,
    attention_flops: float = 0.0,
    seed: int = 0,
    **plan_kwargs: Any,
) -> xr.Dataset:
    """The loss of one chosen configuration and its regret against each draw's optimum.

    ``config`` gives the law's inputs; with ``budget`` the tokens ``D`` may be left out and are
    what the budget buys (C = M D), without it the budget is the configuration's own compute.
    Returns, per draw: ``loss`` (the law's), ``loss_predictive`` (with discrepancy and noise,
    what a run would observe) and ``regret`` (loss minus the optimum's loss at the same budget,
    same draw); attrs hold the budget, P(within 0.1 % of the optimum) and the mean regret.
    """
    law = next(iter(fit.fits.values())).law if isinstance(fit, Stacked) else fit.law  # stacked laws share inputs
    x = {k: float(v) for k, v in config.items()}
    unknown = sorted(set(x) - set(law.inputs) - {"D"})
    if unknown:
        raise PlanError(f"what_if: {unknown} are not inputs of {law.name!r} ({', '.join(law.inputs)})")
    missing = [k for k in law.inputs if k not in x and k != "D"]
    if missing:
        raise PlanError(f"what_if: the configuration lacks {missing} (inputs of {law.name!r})")
    if "D" not in x:
        if budget is None:
            raise PlanError("what_if needs D in the configuration or a budget to derive it from")
        x["D"] = float(tokens_for_budget(budget, law.activated(x), attention_flops))
    if budget is None:
        budget = float(training_flops(law.activated(x), x["D"], attention_flops))
    row = pd.DataFrame({k: [x[k]] for k in law.inputs})
    loss = predict(fit, row, group=group).isel(config=0, drop=True)  # (chain, draw), kept for one-draw fits
    observed = predict(fit, row, group=group, predictive=True, seed=seed).isel(config=0, drop=True)
    best = plan(fit, budget, group=group, attention_flops=attention_flops, **plan_kwargs)
    optimum = best.optimum["loss"].transpose(*loss.dims).values
    regret = loss - optimum
    ds = xr.Dataset({"loss": loss, "loss_predictive": observed, "regret": regret})
    for k in ds.data_vars:
        ds[k].attrs["units"] = fit.runs.loss_unit
    lo, hi = eti(regret.values)
    ds.attrs.update(
        law=label(fit),
        budget=float(budget),
        config=str(x),
        p_near_optimal=near_optimal_share(loss.values, optimum),
        regret_mean=float(regret.mean()),
        regret_90=f"[{lo:.4g}, {hi:.4g}]",
        optimum_decision=str(best.decision),
    )
    return ds
