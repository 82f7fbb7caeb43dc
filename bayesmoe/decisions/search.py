"""The search behind a plan: the feasible configurations for one budget, each draw's
optimum, and the decision minimising a risk over all draws.

Budget accounting is :mod:`bayesmoe.runs.compute`'s ``C = M * D`` with
``M = 6 * N_a + attention_flops`` (``N`` for laws without ``N_a``). Sizes are searched in log
space by :mod:`bayesmoe.decisions.compass` (every draw at once); discrete inputs (G, S, E)
are enumerated over candidate lists in one broadcast evaluation, alternating with the
continuous search.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.decisions.compass import coarse_step, predicted_start, zoom
from bayesmoe.errors import PlanError
from bayesmoe.runs.compute import active_for_flops_per_token, flops_per_token

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


def near_optimal_share(loss: Any, optimum_loss: Any) -> float:
    """Share of draws whose ``loss`` lies within :data:`NEAR_OPTIMAL` of that draw's optimum."""
    return float(np.mean(np.asarray(loss) <= np.asarray(optimum_loss) * (1 + NEAR_OPTIMAL)))


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
        if self.law.active_tree is not None:  # a law in total N: FLOPs follow its N_a formula
            x["N_a"] = self.law.activated(x)
        m = flops_per_token(x.get("N_a", size), self.attention_flops)
        x["D"] = self.budget / m
        if "C" in self.law.inputs:
            x["C"] = np.full_like(size, self.budget)
        if "M" in self.law.inputs:
            x["M"] = m
        return x

    def feasible(self, x: Mapping[str, Any]) -> Any:
        ok = np.ones(np.broadcast_shapes(*(np.shape(v) for v in x.values())), bool)
        lim = self.limits
        if lim.max_total_params is not None:
            ok &= np.asarray(x.get("N", x[self.active])) <= lim.max_total_params * (1 + 1e-12)
        if len(self.continuous) == 2:
            ratio = np.asarray(x["N"]) / np.asarray(x[self.active])
            ok &= (ratio >= 1 - 1e-12) & (ratio <= MAX_EXPANSION * (1 + 1e-12))
        if lim.max_tokens is not None:
            ok &= np.asarray(x["D"]) <= lim.max_tokens * (1 + 1e-12)
        n_a = np.asarray(x.get("N_a", x[self.active]))
        if lim.max_active_params is not None:
            ok &= n_a <= lim.max_active_params * (1 + 1e-12)
        if lim.min_active_params is not None:
            ok &= n_a >= lim.min_active_params * (1 - 1e-12)
        if "G" in x and "E" in x:
            ok &= np.asarray(x["G"]) <= np.asarray(x["E"])
        return ok


def make_problem(
    law: Any,
    budget: float,
    limits: Limits,
    fixed: Mapping[str, float],
    choices: Mapping[str, Sequence[float]] | None,
    attention_flops: float,
) -> Problem:
    if not (isinstance(budget, int | float) and math.isfinite(budget) and budget > 0):
        raise PlanError(f"budget must be a positive number of FLOPs, got {budget!r}")
    if "D" not in law.inputs:
        raise PlanError(
            f"law {law.name!r} has no D (tokens) input, so a compute budget cannot be split between size and data"
        )
    active = law.size_input
    if active not in law.inputs:
        raise PlanError(f"law {law.name!r} has neither N_a nor N; cannot plan a budget")
    if limits.max_total_params is not None and "N" not in law.inputs and "E" in law.inputs:
        raise PlanError(
            f"law {law.name!r} has no total-parameter input N (its experts make N exceed N_a), so "
            "max_total_params cannot be checked; limit max_active_params, or use a law with N"
        )
    for k in fixed:
        if k not in law.inputs:
            raise PlanError(f"fixed input {k!r} is not an input of {law.name!r} ({law.inputs})")
        if k in ("D", active, "N", "C", "M"):
            raise PlanError(f"{k} is set by the plan; limit it with max_* options instead of fixing it")
    for k in choices or {}:
        if k not in law.inputs:
            raise PlanError(f"choices given for {k!r}, which is not an input of {law.name!r} ({law.inputs})")
    continuous = [active] + (["N"] if active == "N_a" and "N" in law.inputs else [])
    # each end of the searched size's range, and which limit set it (named if the range is empty)
    searched = f"the sizes searched ({PARAM_RANGE[0]:g} to {PARAM_RANGE[1]:g})"
    (lo_size, lo_by), (hi_size, hi_by) = (PARAM_RANGE[0], searched), (PARAM_RANGE[1], searched)

    def tighten(lo: float | None = None, hi: float | None = None, by: str = "") -> None:
        nonlocal lo_size, lo_by, hi_size, hi_by
        if lo is not None and lo > lo_size:
            lo_size, lo_by = lo, by
        if hi is not None and hi < hi_size:
            hi_size, hi_by = hi, by

    if law.active_tree is None:  # the searched size is N_a (or a dense N): its limits bound the search
        tighten(lo=limits.min_active_params, by="min_active_params")
        tighten(hi=limits.max_active_params, by="max_active_params")
    tighten(hi=limits.max_total_params, by="max_total_params")
    # D = budget / M(size) must lie in TOKEN_RANGE and under max_tokens
    d_hi = min(TOKEN_RANGE[1], limits.max_tokens or math.inf)
    tighten(
        lo=active_for_flops_per_token(budget / d_hi, attention_flops),
        by="max_tokens" if limits.max_tokens else f"the tokens searched (up to {TOKEN_RANGE[1]:g})",
    )
    tighten(
        hi=active_for_flops_per_token(budget / TOKEN_RANGE[0], attention_flops),
        by=f"the budget ({TOKEN_RANGE[0]:g} tokens at least)",
    )
    for name, v in vars(limits).items():
        if v is not None and not (math.isfinite(v) and v > 0):
            raise PlanError(f"{name} must be a positive number, got {v!r}")
    if limits.max_active_params and limits.min_active_params and limits.min_active_params > limits.max_active_params:
        raise PlanError("contradictory limits: min_active_params exceeds max_active_params")
    if not lo_size < hi_size:
        raise PlanError(
            f"no feasible model for budget {budget:.3g} FLOPs under these limits: the {active} range "
            f"[{max(lo_size, 0):.3g}, {hi_size:.3g}] is empty - its lower end is set by {lo_by}, "
            f"its upper end by {hi_by}"
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


def draw_cost(
    problem: Problem, p: Mapping[str, np.ndarray], disc: Mapping[str, Any], price: float
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The objective of each draw's search: loss (plus ``price`` per 1e9 active) at log sizes ``z``
    for the draws ``rows``; ``disc`` holds each draw's discrete choice, or one shared value."""

    n = len(next(iter(p.values())))
    per_draw = [k for k, v in disc.items() if np.ndim(v) and len(v) == n and n > 1]

    def cost(z: np.ndarray, rows: np.ndarray) -> np.ndarray:
        pick = {k: v[rows] if k in per_draw else v for k, v in disc.items()}
        value = problem_loss(problem, {k: v[rows] for k, v in p.items()}, z, pick)
        return value + price * np.exp(z[..., 0]) / 1e9 if price else value

    return cost


def problem_loss(
    problem: Problem, params: Mapping[str, np.ndarray], z: np.ndarray, disc: Mapping[str, Any]
) -> np.ndarray:
    x = problem.inputs(z, disc)
    with np.errstate(all="ignore"):
        value = problem.law.loss_fn(params, x)
    value = np.where(problem.feasible(x), value, np.inf)
    return np.where(np.isfinite(value) & (value > 0), value, np.inf)


def per_draw_optima(
    problem: Problem, params: Mapping[str, np.ndarray], n: int, price: float = 0.0
) -> dict[str, np.ndarray]:
    """Each draw's optimum: sizes by the compass search, alternating with the best discrete
    choice at those sizes until no draw changes its choice (its sizes are then optimal for it).

    With more than 256 draws, the search first runs on 256 evenly spaced ones; every draw then
    starts from their most common discrete choice, at the sizes a regression of their optima
    on the parameters predicts (:func:`~bayesmoe.decisions.compass.predicted_start`), so one
    coarse grid serves all draws. A draw whose start is infeasible is searched from the grid.
    """
    p = {k: np.asarray(v).reshape(n, 1) for k, v in params.items()}
    disc_names = list(problem.discrete)
    combos = list(itertools.product(*problem.discrete.values())) if disc_names else [()]
    table = np.array(combos, float).reshape(len(combos), len(disc_names))  # (K, discrete inputs)
    if n > 256:
        sub = np.linspace(0, n - 1, 256).astype(int)
        first = per_draw_optima(problem, {k: v[sub] for k, v in p.items()}, sub.size, price)
        common = pd.Series(list(zip(*(first[k] for k in disc_names), strict=True))).mode()[0] if disc_names else ()
        current = {k: np.full((n, 1), common[j]) for j, k in enumerate(disc_names)}
        z_sub = np.log(np.column_stack([first[k] for k in problem.continuous]))
        if disc_names:  # the subsample's optima under the common choice, and how far a switch moves them
            z_own = z_sub
            z_sub, _ = search_rows(problem, p, current, price, sub, start=z_own)
            spread = 2 * np.quantile(np.abs(z_own - z_sub), 0.95, axis=0)
            switch_step = np.clip(spread, 4e-3, coarse_step(problem.lo, problem.hi) / 4)
        start, step = predicted_start(p, sub, z_sub, coarse_step(problem.lo, problem.hi))
        z, f = zoom(draw_cost(problem, p, current, price), problem.lo, problem.hi, n, start=start, step=step)
        regrid(problem, p, current, price, z, np.flatnonzero(~np.isfinite(f)))
    else:
        switch_step = None  # a quarter of the coarse spacing
        current = {k: np.full((n, 1), problem.discrete[k][len(problem.discrete[k]) // 2]) for k in disc_names}
        z, _ = zoom(draw_cost(problem, p, current, price), problem.lo, problem.hi, n)
    chunk = max(1, 2_000_000 // n)  # combinations per broadcast call: bounded memory
    for _ in range(4 if disc_names else 0):
        values = np.concatenate(
            [
                draw_cost(problem, p, {k: table[i : i + chunk, j][None, :] for j, k in enumerate(disc_names)}, price)(
                    z[:, None, :], slice(None)
                )
                for i in range(0, len(combos), chunk)
            ],
            axis=1,
        )  # (draws, K): every combination at each draw's sizes
        pick = np.argmin(values, axis=1)
        new = {k: table[pick, j].reshape(n, 1) for j, k in enumerate(disc_names)}
        changed = np.flatnonzero(np.any([new[k][:, 0] != current[k][:, 0] for k in disc_names], axis=0))
        if changed.size == 0:
            break
        current = new
        z[changed], f = search_rows(problem, p, current, price, changed, start=z[changed], step=switch_step)
        regrid(problem, p, current, price, z, changed[~np.isfinite(f)])
    x = problem.inputs(z[:, None, :], current)
    loss = problem_loss(problem, p, z[:, None, :], current)[:, 0]
    if not np.all(np.isfinite(loss)):
        bad = int(np.sum(~np.isfinite(loss)))
        raise PlanError(
            f"{bad} of {n} draws have no feasible configuration under these limits (or the law gives invalid loss there)"
        )
    out = {
        k: np.broadcast_to(np.asarray(v, float), (n, 1))[:, 0].copy()
        for k, v in x.items()
        if k in problem.law.inputs or k in ("D", "N_a")
    }
    out["loss"] = loss
    return out


def search_rows(
    problem: Problem,
    p: Mapping[str, np.ndarray],
    disc: Mapping[str, np.ndarray],
    price: float,
    rows: np.ndarray,
    start: np.ndarray | None = None,
    step: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The compass search for the draws ``rows`` only (their parameters and discrete choices),
    from ``start`` or, without one, from the full coarse grid."""
    cost = draw_cost(problem, {k: v[rows] for k, v in p.items()}, {k: v[rows] for k, v in disc.items()}, price)
    return zoom(cost, problem.lo, problem.hi, len(rows), start=start, step=step)


def regrid(
    problem: Problem,
    p: Mapping[str, np.ndarray],
    disc: Mapping[str, np.ndarray],
    price: float,
    z: np.ndarray,
    rows: np.ndarray,
) -> None:
    """Search ``rows`` again from the full coarse grid (in place in ``z``): a warm start that
    landed where the law is infeasible or invalid for a draw gives no direction to move."""
    if len(rows):
        z[rows], _ = search_rows(problem, p, disc, price, rows)


def risk_of(values: np.ndarray, risk: str) -> np.ndarray:
    """Risk of each candidate from loss values (draws x candidates)."""
    if risk == "mean":
        return values.mean(axis=0)
    if risk == "q90":
        return np.quantile(values, 0.9, axis=0)
    tail = np.sort(values, axis=0)[math.floor(0.9 * values.shape[0]) :]
    return tail.mean(axis=0)


def bayes_decision(
    components: Sequence[tuple[Problem, Mapping[str, np.ndarray], int]],
    risk: str,
    price: float = 0.0,
    per_draw: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """The configuration minimising the risk of loss over all draws.

    ``components`` are (problem, flat parameter draws, number of draws): one for a single
    fit, one per law for a stacked predictive, whose draws are pooled (the laws share their
    inputs, so a candidate configuration means the same run in each).
    Discrete inputs are searched over the combinations that are optimal in at least 1 % of
    draws (at most 8, most frequent first): the Bayes choice is among them in practice,
    and this keeps the search to a few continuous zooms.
    """
    problem = components[0][0]
    n = sum(c[2] for c in components)
    parts = [(pr, {k: np.asarray(v).reshape(m, 1) for k, v in pa.items()}, m) for pr, pa, m in components]
    disc_names = list(problem.discrete)
    combos = list(itertools.product(*problem.discrete.values())) if disc_names else [()]
    if disc_names and per_draw is not None:
        seen = pd.Series(list(zip(*(per_draw[k] for k in disc_names), strict=True))).value_counts()
        combos = list(seen[seen >= max(1, 0.01 * n)].index[:8]) or list(seen.index[:1])
    start = step = None  # from the median optimum over draws (the risk is lowest near it), by their spread
    if per_draw is not None:
        z_draws = np.log(np.column_stack([per_draw[k] for k in problem.continuous]))
        start = np.median(z_draws, axis=0)[None, :]
        step = np.clip(
            np.subtract(*np.quantile(z_draws, [0.75, 0.25], axis=0)), 4e-3, coarse_step(problem.lo, problem.hi) / 4
        )
    best: tuple[float, Any, Any] | None = None
    for c in combos:
        disc = {k: c[i] for i, k in enumerate(disc_names)}

        def objective(z: np.ndarray, rows: Any, disc: Mapping[str, Any] = disc) -> np.ndarray:
            cand = z[0]  # (m, d): one shared candidate list for every draw
            value = np.concatenate(
                [problem_loss(pr, p, np.broadcast_to(cand, (m, *cand.shape)), disc) for pr, p, m in parts]
            )
            r = risk_of(value, risk)
            if price:
                r = r + price * np.exp(cand[:, 0]) / 1e9
            return r[None, :]

        z, f = zoom(objective, problem.lo, problem.hi, 1, start=start, step=step)
        if best is None or f[0] < best[0]:
            best = (float(f[0]), z[0], disc)
    assert best is not None
    value, z, disc = best
    if not math.isfinite(value):
        raise PlanError("no configuration is feasible in every draw under these limits")
    x = problem.inputs(z[None, None, :], disc)
    out = {k: float(np.asarray(v).ravel()[0]) for k, v in x.items() if k in problem.law.inputs or k in ("D", "N_a")}
    out["risk_loss"] = value  # the risk criterion (mean, q90 or cvar90 of loss) at the decision
    return out
