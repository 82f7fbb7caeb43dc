"""The plan verb: compute-optimal training runs over posterior draws, as a :class:`Plan`."""

from __future__ import annotations

import html
import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe._version import __version__
from bayesmoe.config import INTERVAL_PROB
from bayesmoe.decisions.layouts import layout_line, layout_report
from bayesmoe.decisions.mixture import Stacked, label
from bayesmoe.decisions.search import (
    MAX_EXPANSION,
    NEAR_OPTIMAL,
    RISKS,
    Limits,
    Problem,
    bayes_decision,
    make_problem,
    near_optimal_share,
    per_draw_optima,
)
from bayesmoe.errors import PlanError, SamplingWarning
from bayesmoe.files import atomic_path, check_output
from bayesmoe.intervals import eti, median_eti
from bayesmoe.laws import observation
from bayesmoe.runs.columns import UNITS
from bayesmoe.runs.compute import compute_of


@dataclass
class Plan:
    """A compute plan: per-draw optima, the Bayes decision and its loss distribution."""

    budget: float
    law: str
    risk: str
    optimum: xr.Dataset  # per draw: every input, D and the loss reached
    decision: dict[str, float]
    decision_loss: xr.DataArray  # loss of the decision in every draw
    near_optimal_probability: float  # P(decision within NEAR_OPTIMAL of the draw's optimum)
    price: float = 0.0
    extrapolation: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problem: Problem | None = field(default=None, repr=False)  # the search it came from, for follow-up queries
    group: str | None = None  # the group whose parameters it used (None: the population)

    def summary(self, prob: float = INTERVAL_PROB) -> pd.DataFrame:
        """Per input: the median and equal-tailed interval of the per-draw optima, and the decision."""
        rows = {}
        units = self.units()
        for k in self.optimum.data_vars:
            row = median_eti(self.optimum[k].values, prob).to_dict()
            rows[k] = row | {"decision": self.decision.get(k, np.nan), "unit": units.get(k, "")}
        dl = self.decision_loss.values.ravel()
        rows["loss"]["decision"] = float(np.mean(dl))
        return pd.DataFrame(rows).T

    def units(self) -> dict[str, str]:
        """Unit of each planned quantity; the loss's is what the fit's runs measure."""
        own = {str(k): str(self.optimum[k].attrs.get("units", UNITS.get(str(k), ""))) for k in self.optimum.data_vars}
        return own | {"risk_loss": str(self.decision_loss.attrs.get("units", UNITS["loss"]))}

    def layout(self, **kw: Any) -> dict[str, Any]:
        """A transformer layout for the decision (hidden size, layers, heads, experts, top-k) with
        its parameter counts and FLOPs per token; keywords go to
        :func:`bayesmoe.decisions.layouts.layout_for` (``aspect``, ``head_dim``, ``context``)."""
        counted = self.problem.attention_flops if self.problem is not None else 0.0
        return layout_report(self.decision, self.budget, counted, **kw)

    def _layout_or_reason(self) -> dict[str, Any]:
        try:
            return self.layout()
        except PlanError as exc:
            return {"error": str(exc)}

    def to_dict(self) -> dict:
        return {
            "budget": self.budget,
            "law": self.law,
            "risk": self.risk,
            "price_per_billion_active": self.price,
            "summary": self.summary().drop(columns="unit").to_dict(orient="index"),
            "decision": self.decision,
            "decision_loss_mean": float(self.decision_loss.mean()),
            "decision_loss_90": [float(v) for v in eti(self.decision_loss.values)],
            "p_decision_near_optimal": self.near_optimal_probability,
            "extrapolation": self.extrapolation,
            "notes": self.notes,
            "group": self.group,
            "architecture": self._layout_or_reason(),
        }

    def export(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` (decision, 90 % intervals, P(near-optimal), extrapolation, notes,
        the mapped architecture of :meth:`layout`) as JSON or YAML, chosen by the file's
        extension, atomically; returns the path."""
        out = Path(path)
        kind = out.suffix.lower()
        if kind not in (".json", ".yaml", ".yml"):
            raise PlanError(f"cannot export a plan to {out}: use a .json, .yaml or .yml file name")
        units = self.units()
        payload = {"bayesmoe": __version__, "units": {k: units.get(k, "") for k in self.decision}, **self.to_dict()}
        payload = json.loads(json.dumps(payload, default=float))  # plain types (numpy scalars become floats)
        if kind == ".json":
            text = json.dumps(payload, indent=2) + "\n"
        else:
            import yaml

            text = yaml.safe_dump(payload, sort_keys=False)
        check_output(out)
        with atomic_path(out) as tmp:
            tmp.write_text(text)
        return out

    def __repr__(self) -> str:
        notes = "".join(f"\nnote: {n}" for n in self.notes)
        far = ", ".join(f"{k} {v:.3g}x" for k, v in self.extrapolation.items() if v > 1)
        return (
            f"Plan(C={self.budget:.3g} FLOPs, law={self.law}, risk={self.risk})\n"
            + self.summary().to_string(float_format=lambda v: f"{v:.4g}")
            + f"\nP(decision within {NEAR_OPTIMAL:.1%} of each draw's optimum) = {self.near_optimal_probability:.2f}"
            + (f"\nextrapolates beyond the largest training run: {far}" if far else "\nwithin the training runs' range")
            + f"\nlayout: {layout_line(self._layout_or_reason())}"
            + notes
        )

    def _repr_html_(self) -> str:
        notes = "".join(
            f"<li>{html.escape(k)}: {v:.3g}x the largest run</li>" for k, v in self.extrapolation.items() if v > 1
        )
        return (
            f"<h4>Plan for C = {self.budget:.3g} FLOPs ({html.escape(self.law)}, risk: {self.risk})</h4>"
            + self.summary().to_html(float_format="{:.4g}".format)
            + f"<p>P(decision within {NEAR_OPTIMAL:.1%} of each draw's optimum) = {self.near_optimal_probability:.2f}</p>"
            + (f"<p>Extrapolation:</p><ul>{notes}</ul>" if notes else "")
            + f"<p>Layout: {html.escape(layout_line(self._layout_or_reason()))}</p>"
            + "".join(f"<p><b>Note:</b> {html.escape(n)}</p>" for n in self.notes)
        )


def edge_notes(problem: Problem, optimum: Mapping[str, np.ndarray]) -> list[str]:
    """Say where the optimum sits on a limit of the search rather than inside it."""
    notes = []
    names = problem.continuous
    for j, name in enumerate(names):
        z = np.log(optimum[name])
        for side, bound in (("lower", problem.lo[j]), ("upper", problem.hi[j])):
            share = float(np.mean(np.abs(z - bound) < 1e-3))
            if share > 0.01:
                notes.append(
                    f"{name} sits on the {side} end of its allowed range ({math.exp(bound):.3g}) in {share:.0%} of draws"
                )
    if len(names) == 2:
        share = float(np.mean(optimum["N"] / optimum[names[0]] > MAX_EXPANSION * 0.999))
        if share > 0.01:
            why = (
                "the law rewards total parameters at no compute cost; set max_total_params (memory) for a meaningful plan"
                if problem.limits.max_total_params is None
                else "within the memory limit the law still rewards sparser models, so the cap, not the law, "
                "sets N_a there; set min_active_params if such sparsity is not an option"
            )
            notes.append(f"N/N_a sits at the expansion cap {MAX_EXPANSION:g} in {share:.0%} of draws: {why}")
    return notes


#: A plan counts training FLOPs from the law's inputs (6 N_a D, plus ``attention_flops`` per
#: token); runs whose own compute differs from that count by more than this factor are refused.
ACCOUNTING_FACTOR = 1.5


def check_accounting(law: Any, df: pd.DataFrame, attention_flops: float = 0.0) -> None:
    """Refuse to plan with a law whose FLOPs count does not match the compute of its own runs,
    the mark of a law in total parameters N fitted to sparse runs: its plan would buy the wrong
    number of tokens for a budget."""
    if df.empty or "D" not in law.inputs or not all(k in df for k in law.inputs):
        return
    if not {"C", "M", "N_a"} & set(df.columns):  # the runs say nothing of their compute beyond 6 N D
        return
    counted = law.compute({k: df[k].to_numpy(float) for k in law.inputs}) + attention_flops * df["D"].to_numpy(float)
    ratio = float(np.median(compute_of(df).to_numpy(float) / counted))
    if 1 / ACCOUNTING_FACTOR <= ratio <= ACCOUNTING_FACTOR:
        return
    own = "their C column" if "C" in df else "M D" if "M" in df else "6 N_a D"
    counts = f"6 ({law.spec.active}) D" if law.active_tree is not None else f"6 {law.size_input} D"
    if law.active_tree is not None:
        fix = cli_fix = f"the law's N_a = {law.spec.active} does not describe these runs; use a law with an N_a input"
    elif "N_a" in df and law.size_input == "N":
        sparse = "these runs are sparse (N_a < N) and the law has no N_a input: fit it to activated parameters "
        fix = sparse + "(load_runs(..., columns={'<activated column>': 'N'})) or use a law with N_a"
        cli_fix = sparse + "(bayesmoe fit ... --map <activated column>=N) or use a law with N_a"
    else:
        units = "check the units of the runs' C (FLOPs) or M (FLOPs per token), or pass "
        fix, cli_fix = units + "attention_flops", units + "--attention-flops"
    what = (
        f"law {law.name!r} counts a run's training FLOPs as {counts}, but the runs' own compute ({own}) is "
        f"{ratio:.3g} times that (median over runs), so a plan would buy the wrong number of tokens"
    )
    raise PlanError(f"{what}: {fix}", cli=f"{what}: {cli_fix}")


def param_arrays(fit: Any, group: str | None) -> tuple[dict[str, np.ndarray], int, tuple[int, int]]:
    """The law's parameters as flat arrays over draws, their number and (chain, draw) shape."""
    draws = fit.draws(group)
    shape = (draws.sizes["chain"], draws.sizes["draw"])
    return {k: draws[k].values.reshape(-1) for k in draws.data_vars}, int(np.prod(shape)), shape


def plan(
    fit: Any,
    budget: float,
    *,
    max_total_params: float | None = None,
    max_active_params: float | None = None,
    max_tokens: float | None = None,
    min_active_params: float | None = None,
    fixed: Mapping[str, float] | None = None,
    choices: Mapping[str, Sequence[float]] | None = None,
    risk: str = "mean",
    attention_flops: float = 0.0,
    price_per_billion_active: float = 0.0,
    group: str | None = None,
) -> Plan:
    """Plan a training run of ``budget`` FLOPs under the posterior of ``fit``.

    Returns the optimum in every draw, the decision minimising ``risk`` of loss
    (``mean`` = Bayes, ``q90`` = 90 % quantile, ``cvar90`` = mean of the worst 10 %),
    and the probability that this decision is within 0.1 % of each draw's optimum.
    ``decision_loss`` is the loss the decision reaches in each draw, including the model
    discrepancy of extrapolating beyond the training runs (``extrapolation`` says how far,
    as multiples of the largest training run's compute and sizes).
    ``price_per_billion_active`` adds that much loss per 1e9 activated parameters to the
    objective (an explicit inference cost), turning the efficiency trade-off into a decision.
    """
    if risk not in RISKS:
        raise PlanError(f"unknown risk {risk!r}; choose one of {RISKS}")
    if not (math.isfinite(attention_flops) and attention_flops >= 0):
        raise PlanError("attention_flops must be >= 0 FLOPs per token")
    if not (math.isfinite(price_per_billion_active) and price_per_billion_active >= 0):
        raise PlanError("price_per_billion_active must be >= 0")
    limits = Limits(max_total_params, max_active_params, max_tokens, min_active_params)
    if isinstance(fit, Stacked):
        if group is not None:
            raise PlanError("a stacked predictive has no groups; stack per-group fits instead")
        comps = list(fit.flat_params())
        shape = (1, fit.n_draws)
        coords: dict[str, Any] = {"chain": [0], "draw": np.arange(fit.n_draws)}
        coords["law"] = ("draw", np.repeat([c[0] for c in comps], [len(c[2]) for c in comps]))
    else:
        params, n, shape = param_arrays(fit, group)
        comps = [(fit.law.name, fit, np.arange(n), params)]
        coords = {"chain": fit.idata.posterior["chain"].values, "draw": fit.idata.posterior["draw"].values}
    parts = []  # (problem, params, draws, per-draw optima, fit, flat draw indices)
    for _, f, idx, params in comps:
        check_accounting(f.law, f.runs.df, attention_flops)
        pr = make_problem(f.law, budget, limits, dict(fixed or {}), choices, attention_flops)
        optima_k = per_draw_optima(pr, params, len(idx), price_per_billion_active)
        parts.append((pr, params, len(idx), optima_k, f, idx))
    per_draw = {k: np.concatenate([p[3][k] for p in parts]) for k in parts[0][3]}
    problem = parts[0][0]
    optimum = xr.Dataset(
        {k: (("chain", "draw"), v.reshape(shape)) for k, v in per_draw.items()},
        coords=coords,
        attrs={"budget_flops": budget, "law": label(fit)},
    )
    units = fit.runs.units()
    for k in optimum.data_vars:
        optimum[k].attrs["units"] = units.get(k, "")
    decision = bayes_decision([p[:3] for p in parts], risk, price_per_billion_active, per_draw)
    at = {**decision, "C": float(budget)}
    extent = parts[0][4].extent()  # the same runs in every component
    rng = np.random.default_rng(0)
    law_loss, dloss, with_delta = [], [], False
    for _, params, m, _, f, idx in parts:
        with np.errstate(all="ignore"):
            value = np.asarray(f.law.loss_fn(params, {k: v for k, v in decision.items() if k in f.law.inputs}), float)
        law_loss.append(np.broadcast_to(value, (m,)))
        if f.discrepancy is not None:  # the loss the run would reach: the law's, off by the model discrepancy
            decades = float(observation.decades_beyond(at, extent))
            scale = observation.scale_draws(f.idata).values.reshape(-1)[idx]
            pv = float(np.var(np.log(np.broadcast_to(value, (m,)))))  # parameter spread the top-up need not add
            delta = observation.draw_discrepancy(scale, decades, rng, param_var=pv, **f.discrepancy_kwargs())
            value = value * np.exp(delta)
            with_delta = True
        dloss.append(np.broadcast_to(value, (m,)))
    near = near_optimal_share(np.concatenate(law_loss), per_draw["loss"])
    decision_loss = xr.DataArray(
        np.concatenate(dloss).reshape(shape),
        dims=("chain", "draw"),
        name="loss",
        attrs={"units": fit.runs.loss_unit, "includes": "model discrepancy" if with_delta else "law only"},
    )
    extrap = {k: float(at[k] / extent[k]) for k in ("C", "N", "N_a", "D") if k in at and extent.get(k, 0) > 0}
    notes = edge_notes(problem, per_draw)
    for name, f, *_ in comps:
        caveat = f.diagnostics().caveat(f"the fit of {name!r}")
        if caveat:  # never plan on a fit that failed its checks without saying so
            notes.insert(0, caveat)
            warnings.warn(caveat, SamplingWarning, stacklevel=2)
    return Plan(
        budget,
        label(fit),
        risk,
        optimum,
        decision,
        decision_loss,
        near,
        price_per_billion_active,
        extrap,
        notes,
        problem,
        group,
    )
