"""Compute-optimal planning over posterior draws: the optimum per draw, the Bayes decision,
the near-optimal band, the budget that reaches a target loss, and a priced-activation optimum.

Budget accounting: ``C = 6 * N_a * D`` by default (``N`` for laws without ``N_a``), or
``C = M * D`` with ``M = 6 * N_a + attention_flops`` (Wan et al. 2026's FLOPs per token).
Sizes are searched in log space by a vectorised zoom search (every draw at once: a coarse
grid, then six rounds of 4x finer local grids around each draw's best cell); discrete inputs
(G, S, E) are enumerated over candidate lists, alternating with the continuous search.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.columns import UNITS
from bayesmoe.config import HDI_PROB
from bayesmoe.errors import PlanError

#: Default candidate lists for discrete inputs.
DEFAULT_CHOICES: dict[str, list[float]] = {
    "G": [1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 16, 20, 24, 32, 48, 64],
    "S": [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75],
    "E": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
}
#: Search box for sizes when no limit is given (parameters, tokens).
PARAM_RANGE = (1e6, 1e14)
TOKEN_RANGE = (1e6, 1e16)
MAX_EXPANSION = 512.0  # N / N_a upper bound when the law has both
RISKS = ("mean", "q90", "cvar90")
NEAR_OPTIMAL = 0.001  # Wan et al. 2026: within 0.1 % of the minimum


@dataclass
class Limits:
    """Optional limits on a plan (raw counts)."""

    max_total_params: float | None = None
    max_active_params: float | None = None
    max_tokens: float | None = None
    min_active_params: float | None = None


@dataclass
class Problem:
    """Maps search coordinates to law inputs for one budget."""

    law: Any
    budget: float
    active: str  # "N_a" or "N": the size that sets training FLOPs
    continuous: list[str]  # names of log-space search coordinates
    lo: np.ndarray
    hi: np.ndarray
    discrete: dict[str, list[float]]
    fixed: dict[str, float]
    attention_flops: float
    limits: Limits

    def inputs(self, z: np.ndarray, disc: Mapping[str, Any]) -> dict[str, Any]:
        """z[..., j] are log sizes; returns law inputs (with D from the budget) and feasibility."""
        x: dict[str, Any] = dict(self.fixed)
        x.update(disc)
        size = np.exp(z[..., 0])
        x[self.active] = size
        if len(self.continuous) == 2:  # log N
            x["N"] = np.exp(z[..., 1])
        m = 6.0 * size + self.attention_flops
        x["D"] = self.budget / m
        if "C" in self.law.inputs:
            x["C"] = np.full_like(size, self.budget)
        if "M" in self.law.inputs:
            x["M"] = m
        return x

    def feasible(self, x: Mapping[str, Any]) -> Any:
        ok = np.ones(np.shape(x[self.active]), bool)
        lim = self.limits
        if lim.max_total_params is not None:
            ok &= np.asarray(x.get("N", x[self.active])) <= lim.max_total_params * (1 + 1e-12)
        if len(self.continuous) == 2:
            ratio = np.asarray(x["N"]) / np.asarray(x[self.active])
            ok &= (ratio >= 1 - 1e-12) & (ratio <= MAX_EXPANSION * (1 + 1e-12))
        if lim.max_tokens is not None:
            ok &= np.asarray(x["D"]) <= lim.max_tokens * (1 + 1e-12)
        if "G" in x and "E" in x:
            ok &= np.asarray(x["G"]) <= np.asarray(x["E"])
        return ok


def _problem(law: Any, budget: float, limits: Limits, fixed: Mapping[str, float], choices: Mapping[str, Sequence[float]] | None,
             attention_flops: float) -> Problem:  # fmt: skip
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise PlanError(f"budget must be a positive number of FLOPs, got {budget!r}")
    if "D" not in law.inputs:
        raise PlanError(
            f"law {law.name!r} has no D (tokens) input, so a compute budget cannot be split between size and data"
        )
    active = "N_a" if "N_a" in law.inputs else "N"
    if active not in law.inputs:
        raise PlanError(f"law {law.name!r} has neither N_a nor N; cannot plan a budget")
    for k in fixed:
        if k not in law.inputs:
            raise PlanError(f"fixed input {k!r} is not an input of {law.name!r} ({law.inputs})")
        if k in ("D", active, "N", "C", "M"):
            raise PlanError(f"{k} is set by the plan; limit it with max_* options instead of fixing it")
    for k in choices or {}:
        if k not in law.inputs:
            raise PlanError(f"choices given for {k!r}, which is not an input of {law.name!r} ({law.inputs})")
    continuous = [active] + (["N"] if active == "N_a" and "N" in law.inputs else [])
    lo_size, hi_size = PARAM_RANGE
    if limits.min_active_params is not None:
        lo_size = max(lo_size, limits.min_active_params)
    if limits.max_active_params is not None:
        hi_size = min(hi_size, limits.max_active_params)
    if limits.max_total_params is not None:
        hi_size = min(hi_size, limits.max_total_params)
    # D = budget / (6 size + attention) must lie in TOKEN_RANGE and under max_tokens
    d_hi = min(TOKEN_RANGE[1], limits.max_tokens or math.inf)
    lo_size = max(lo_size, (budget / d_hi - attention_flops) / 6.0)
    hi_size = min(hi_size, (budget / TOKEN_RANGE[0] - attention_flops) / 6.0)
    for name, v in vars(limits).items():
        if v is not None and not (math.isfinite(v) and v > 0):
            raise PlanError(f"{name} must be a positive number, got {v!r}")
    if limits.max_active_params and limits.min_active_params and limits.min_active_params > limits.max_active_params:
        raise PlanError("contradictory limits: min_active_params exceeds max_active_params")
    if not lo_size < hi_size:
        raise PlanError(
            f"no feasible model for budget {budget:.3g} FLOPs under these limits: the {active} range "
            f"[{max(lo_size, 0):.3g}, {hi_size:.3g}] is empty (budget too small, or max_tokens too low for max_active_params)"
        )
    lo, hi = [math.log(lo_size)], [math.log(hi_size)]
    if len(continuous) == 2:
        n_hi = min(PARAM_RANGE[1], limits.max_total_params or math.inf, hi_size * MAX_EXPANSION)
        lo.append(math.log(lo_size))
        hi.append(math.log(n_hi))
    discrete = {}
    for k in law.inputs:
        if k in fixed or k in ("D", "N", "N_a", "C", "M"):
            continue
        if choices and k in choices:
            values = [float(v) for v in choices[k]]
        elif k in DEFAULT_CHOICES:
            values = DEFAULT_CHOICES[k]
        else:
            raise PlanError(
                f"input {k!r} of {law.name!r} needs a value: pass fixed={{'{k}': ...}} or choices={{'{k}': [...]}}"
            )
        if not values:
            raise PlanError(f"empty choices for {k!r}")
        discrete[k] = values
    return Problem(
        law,
        float(budget),
        active,
        continuous,
        np.array(lo),
        np.array(hi),
        discrete,
        dict(fixed),
        float(attention_flops),
        limits,
    )


def _zoom(objective: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, rows: int,
          coarse: int | None = None, local: int = 9, rounds: int = 6) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Minimise ``objective`` (rows x candidates) over a box, for every row at once."""
    d = len(lo)
    coarse = coarse or (64 if d == 1 else 16)
    axes = [np.linspace(lo[j], hi[j], coarse) for j in range(d)]
    grid = np.array(list(itertools.product(*axes)))  # (m, d)
    z = np.broadcast_to(grid, (rows, *grid.shape))
    f = objective(z)
    best = np.nanargmin(np.where(np.isfinite(f), f, np.inf), axis=1)
    centre = z[np.arange(rows), best]
    step = (hi - lo) / (coarse - 1)
    offsets = np.array(list(itertools.product(*[np.linspace(-1, 1, local)] * d)))  # (k, d)
    for _ in range(rounds):
        z = np.clip(centre[:, None, :] + offsets[None] * step, lo, hi)
        f = objective(z)
        best = np.argmin(np.where(np.isfinite(f), f, np.inf), axis=1)
        centre = z[np.arange(rows), best]
        step = step * 2 / (local - 1)
    f_best = f[np.arange(rows), best]
    return centre, f_best


def _loss(problem: Problem, params: Mapping[str, np.ndarray], z: np.ndarray, disc: Mapping[str, Any]) -> np.ndarray:
    x = problem.inputs(z, disc)
    with np.errstate(all="ignore"):
        value = problem.law.loss_fn(params, x)
    value = np.where(problem.feasible(x), value, np.inf)
    return np.where(np.isfinite(value) & (value > 0), value, np.inf)


def _per_draw(problem: Problem, params: Mapping[str, np.ndarray], n: int, price: float = 0.0) -> dict[str, np.ndarray]:
    """Each draw's optimum (coordinate-wise: discrete enumeration, then the zoom search)."""
    p = {k: np.asarray(v).reshape(n, 1) for k, v in params.items()}
    disc_names = list(problem.discrete)
    combos = list(itertools.product(*problem.discrete.values())) if disc_names else [()]
    current = {k: np.full((n, 1), problem.discrete[k][len(problem.discrete[k]) // 2]) for k in disc_names}

    def cost(z: np.ndarray, disc: Mapping[str, Any]) -> np.ndarray:
        value = _loss(problem, p, z, disc)
        return value + price * np.exp(z[..., 0]) / 1e9 if price else value

    # Alternate: sizes for the current discrete choice, then the best discrete choice at those
    # sizes; stop once no draw changes its choice (the sizes are then optimal for it).
    z, _ = _zoom(lambda zz: cost(zz, current), problem.lo, problem.hi, n)
    for _ in range(3 if disc_names else 0):
        zz = z[:, None, :]
        values = np.stack(
            [cost(zz, {k: np.full((n, 1), c[i]) for i, k in enumerate(disc_names)})[:, 0] for c in combos], axis=1
        )
        pick = np.argmin(values, axis=1)
        new = {k: np.array([combos[j][i] for j in pick]).reshape(n, 1) for i, k in enumerate(disc_names)}
        if all(np.array_equal(new[k], current[k]) for k in disc_names):
            break
        current = new
        z, _ = _zoom(lambda zz, cur=current: cost(zz, cur), problem.lo, problem.hi, n)
    x = problem.inputs(z[:, None, :], current)
    loss = _loss(problem, p, z[:, None, :], current)[:, 0]
    if not np.all(np.isfinite(loss)):
        bad = int(np.sum(~np.isfinite(loss)))
        raise PlanError(
            f"{bad} of {n} draws have no feasible configuration under these limits (or the law gives invalid loss there)"
        )
    out = {
        k: np.broadcast_to(np.asarray(v, float), (n, 1))[:, 0].copy()
        for k, v in x.items()
        if k in problem.law.inputs or k == "D"
    }
    out["loss"] = loss
    return out


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
            notes.append(f"N/N_a sits at the expansion cap {MAX_EXPANSION:g} in {share:.0%} of draws: the law rewards total "
                         "parameters at no compute cost; set max_total_params (memory) for a meaningful plan")  # fmt: skip
    return notes


def _risk(values: np.ndarray, risk: str) -> np.ndarray:
    """Risk of each candidate from loss values (draws x candidates)."""
    if risk == "mean":
        return values.mean(axis=0)
    if risk == "q90":
        return np.quantile(values, 0.9, axis=0)
    tail = np.sort(values, axis=0)[math.floor(0.9 * values.shape[0]) :]
    return tail.mean(axis=0)


def _decision(problem: Problem, params: Mapping[str, np.ndarray], n: int, risk: str, price: float = 0.0,
              per_draw: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:  # fmt: skip
    """The configuration minimising the risk of loss over all draws.

    Discrete inputs are searched over the combinations that are optimal in at least 1 % of
    draws (at most 8, most frequent first): the Bayes choice is among them in practice,
    and this keeps the search to a few continuous zooms.
    """
    p = {k: np.asarray(v).reshape(n, 1) for k, v in params.items()}
    disc_names = list(problem.discrete)
    combos = list(itertools.product(*problem.discrete.values())) if disc_names else [()]
    if disc_names and per_draw is not None:
        seen = pd.Series(list(zip(*(per_draw[k] for k in disc_names), strict=True))).value_counts()
        combos = list(seen[seen >= max(1, 0.01 * n)].index[:8]) or list(seen.index[:1])
    best: tuple[float, Any, Any] | None = None
    for c in combos:
        disc = {k: c[i] for i, k in enumerate(disc_names)}

        def objective(z: np.ndarray, disc: Mapping[str, Any] = disc) -> np.ndarray:
            cand = z[0]  # (m, d): one shared candidate list for every draw
            value = _loss(problem, p, np.broadcast_to(cand, (n, *cand.shape)), disc)
            r = _risk(value, risk)
            if price:
                r = r + price * np.exp(cand[:, 0]) / 1e9
            return r[None, :]

        z, f = _zoom(objective, problem.lo, problem.hi, 1, coarse=32 if len(problem.lo) == 1 else 16, rounds=5)
        if best is None or f[0] < best[0]:
            best = (float(f[0]), z[0], disc)
    assert best is not None
    value, z, disc = best
    if not math.isfinite(value):
        raise PlanError("no configuration is feasible in every draw under these limits")
    x = problem.inputs(z[None, None, :], disc)
    out = {k: float(np.asarray(v).ravel()[0]) for k, v in x.items() if k in problem.law.inputs or k == "D"}
    out["risk"] = value
    return out


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

    def summary(self, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
        q = [(1 - hdi_prob) / 2, 0.5, (1 + hdi_prob) / 2]
        rows = {}
        for k in self.optimum.data_vars:
            v = self.optimum[k].values.ravel()
            lo, med, hi = np.quantile(v, q)
            rows[k] = {"median": med, f"lo_{hdi_prob:.0%}": lo, f"hi_{hdi_prob:.0%}": hi, "decision": self.decision.get(k, np.nan),
                       "unit": UNITS.get(k, "")}  # fmt: skip
        dl = self.decision_loss.values.ravel()
        rows["loss"]["decision"] = float(np.mean(dl))
        return pd.DataFrame(rows).T

    def to_dict(self) -> dict:
        return {
            "budget": self.budget, "law": self.law, "risk": self.risk, "price_per_billion_active": self.price,
            "summary": self.summary().drop(columns="unit").to_dict(orient="index"),
            "decision": self.decision, "decision_loss_mean": float(self.decision_loss.mean()),
            "decision_loss_90": [float(v) for v in np.quantile(self.decision_loss.values, [0.05, 0.95])],
            "p_decision_near_optimal": self.near_optimal_probability, "extrapolation": self.extrapolation,
            "notes": self.notes,
        }  # fmt: skip

    def __repr__(self) -> str:
        notes = "".join(f"\nnote: {n}" for n in self.notes)
        return (
            f"Plan(C={self.budget:.3g} FLOPs, law={self.law}, risk={self.risk})\n"
            + self.summary().to_string(float_format=lambda v: f"{v:.4g}")
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
            + "".join(f"<p><b>Note:</b> {html.escape(n)}</p>" for n in self.notes)
        )


def _param_arrays(fit: Any, group: str | None) -> tuple[dict[str, np.ndarray], int, tuple[int, int]]:
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
    problem = _problem(fit.law, budget, limits, dict(fixed or {}), choices, attention_flops)
    params, n, shape = _param_arrays(fit, group)
    per_draw = _per_draw(problem, params, n, price_per_billion_active)
    optimum = xr.Dataset(
        {k: (("chain", "draw"), v.reshape(shape)) for k, v in per_draw.items()},
        coords={"chain": fit.idata.posterior["chain"].values, "draw": fit.idata.posterior["draw"].values},
        attrs={"budget_flops": budget, "law": fit.law.name},
    )
    for k in optimum.data_vars:
        optimum[k].attrs["units"] = UNITS.get(k, "nats/token" if k == "loss" else "")
    decision = _decision(problem, params, n, risk, price_per_billion_active, per_draw)
    x = {k: v for k, v in decision.items() if k in fit.law.inputs}
    with np.errstate(all="ignore"):
        dloss = np.asarray(fit.law.loss_fn(params, x), float)
    decision_loss = xr.DataArray(
        dloss.reshape(shape), dims=("chain", "draw"), name="loss", attrs={"units": "nats/token"}
    )
    near = float(np.mean(dloss <= per_draw["loss"] * (1 + NEAR_OPTIMAL)))
    extrap = {}
    for k in ("N", "N_a", "D"):
        if k in decision and k in fit.runs.df.columns and len(fit.runs):
            extrap[k] = float(decision[k] / fit.runs.df[k].max())
    notes = edge_notes(problem, per_draw)
    return Plan(
        budget,
        fit.law.name,
        risk,
        optimum,
        decision,
        decision_loss,
        near,
        price_per_billion_active,
        extrap,
        notes,
        problem,
    )


def near_optimal_band(fit: Any, budget: float, grid: Mapping[str, Sequence[float]], *, tolerance: float = NEAR_OPTIMAL,
                      group: str | None = None, **kwargs: Any) -> xr.DataArray:  # fmt: skip
    """P(loss(x) <= (1 + tolerance) * that draw's optimum) for each configuration of a grid.

    ``grid`` gives the size coordinates (``N_a`` or ``N``, and also ``N`` where the law
    has both) and, optionally, discrete inputs; D follows from the budget.
    """
    p = plan(fit, budget, group=group, **kwargs)
    problem = p.problem
    assert problem is not None
    params, n, _ = _param_arrays(fit, group)
    names = list(grid)
    need = problem.continuous
    missing = [c for c in need if c not in names]
    if missing:
        raise PlanError(f"near_optimal_band needs grid coordinates {need}; missing {missing}")
    cells = np.array(list(itertools.product(*[np.asarray(grid[k], float) for k in names])))
    z = np.stack([np.log(cells[:, names.index(c)]) for c in need], axis=-1)
    disc = {k: cells[:, names.index(k)][None, :] if k in names else p.decision[k] for k in problem.discrete}
    pp = {k: v.reshape(n, 1) for k, v in params.items()}
    loss = _loss(problem, pp, np.broadcast_to(z, (n, *z.shape)), disc)
    best = p.optimum["loss"].values.reshape(n, 1)
    prob = np.mean(loss <= best * (1 + tolerance), axis=0)
    out = xr.DataArray(
        prob.reshape([len(grid[k]) for k in names]), dims=names, coords={k: np.asarray(grid[k], float) for k in names}
    )
    out.name = "p_near_optimal"
    out.attrs.update(
        tolerance=tolerance, budget_flops=budget, description=f"P(loss within {tolerance:.2%} of the draw's optimum)"
    )
    return out


def budget_for_target(fit: Any, target_loss: float, *, probability: float = 0.9, risk: str = "mean",
                      lo: float = 1e15, hi: float = 1e28, group: str | None = None, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
    """The smallest budget whose planned decision reaches ``target_loss`` with ``probability``.

    Bisection in log C: at each budget the decision (for ``risk``) is planned, and
    P(loss of that decision <= target) is read off the posterior.
    """
    if not 0 < probability < 1:
        raise PlanError(f"probability must lie in (0, 1), got {probability}")

    def reach(c: float) -> tuple[float, Plan]:
        p = plan(fit, c, risk=risk, group=group, **kwargs)
        return float(np.mean(p.decision_loss.values <= target_loss)), p

    p_hi, best = reach(hi)
    if p_hi < probability:
        raise PlanError(f"even {hi:.3g} FLOPs reach loss {target_loss} with probability below {probability:.0%} "
                        f"({p_hi:.2f}): the target is at or below what the law allows")  # fmt: skip
    p_lo, _ = reach(lo)
    if p_lo >= probability:
        return {
            "budget": lo,
            "probability": p_lo,
            "note": f"already reached at the smallest budget searched ({lo:.3g})",
        }
    a, b = math.log(lo), math.log(hi)
    p_b = p_hi
    for _ in range(40):
        mid = 0.5 * (a + b)
        p_mid, p_plan = reach(math.exp(mid))
        if p_mid >= probability:
            b, p_b, best = mid, p_mid, p_plan
        else:
            a = mid
        if b - a < 1e-3:
            break
    return {"budget": math.exp(b), "probability": p_b, "target_loss": target_loss, "plan": best}
