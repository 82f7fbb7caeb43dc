"""Which runs to train next: candidate runs ranked by how much they are expected to sharpen
the decision at a target budget, per FLOP (preposterior analysis).

For a candidate run x, outcomes are simulated from the full posterior predictive (law, model
discrepancy, run-to-run noise: the fit's own observation model) of a posterior draw j; every
posterior draw i is then weighted by the likelihood of that outcome under the same model,
p(y | theta_i, x) (:func:`outcomes`), and the decision target (e.g. the width of
the 90 % interval of the optimal N at the budget) is recomputed under those weights. The mean
over simulations is the target expected after training x. Runs are chosen greedily: each step
takes the candidate with the largest expected reduction per FLOP among those that still fit the
spend, conditioning on the runs already chosen (their simulated outcomes come from the same
draw j). Importance weights are exact for the posterior's draws but degenerate when a run is
very informative; the effective sample size of every step is reported, and the predicted
reductions were checked against real refits in ``benchmarks/design.py``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import softmax

from bayesmoe.config import INTERVAL_PROB
from bayesmoe.decisions.mixture import require_single
from bayesmoe.decisions.planning import param_arrays, plan
from bayesmoe.decisions.prediction import discrepancy_sd_draws
from bayesmoe.errors import PlanError
from bayesmoe.intervals import weighted_eti
from bayesmoe.laws import observation
from bayesmoe.runs.compute import compute_of

#: What a design can aim to sharpen; the ``*_width`` targets are widths of 90 % intervals in log
#: units (log N*, log G*, ...), ``regret`` the expected loss of the Bayes decision above each
#: draw's optimum, ``loss_width`` the interval width of the optimum's loss (both in the runs' loss unit).
TARGETS = ("n_opt_width", "regret", "loss_width", "G_width", "S_width")
#: Configurations the Bayes decision is chosen among when the target is ``regret``.
DECISION_SET = 96


@dataclass
class Design:
    """The runs to train next, in the order chosen, and what each is expected to buy."""

    budget: float
    target: str
    current: float  # the target's value under today's posterior
    chosen: pd.DataFrame  # chosen candidate rows + C, expected target after, reduction, per 1e18 FLOPs, ESS
    ranking: pd.DataFrame  # every candidate's expected reduction on its own (the first greedy step)
    spend: float
    notes: list[str] = field(default_factory=list)

    @property
    def expected_after(self) -> float:
        return float(self.chosen["expected_target_after"].iloc[-1]) if len(self.chosen) else self.current

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "target": self.target,
            "target_now": self.current,
            "target_expected_after": self.expected_after,
            "spend_flops": self.spend,
            "spent_flops": float(self.chosen["C"].sum()) if len(self.chosen) else 0.0,
            "chosen": self.chosen.to_dict(orient="records"),
            "notes": self.notes,
        }

    def __repr__(self) -> str:
        head = (
            f"Design for C = {self.budget:.3g} FLOPs, target {self.target}: {self.current:.4g} now, "
            f"{self.expected_after:.4g} expected after {len(self.chosen)} run(s) "
            f"({self.chosen['C'].sum() if len(self.chosen) else 0:.3g} of {self.spend:.3g} FLOPs)"
        )
        table = self.chosen.to_string(float_format=lambda v: f"{v:.4g}") if len(self.chosen) else "(no run chosen)"
        return head + "\n" + table + "".join(f"\nnote: {n}" for n in self.notes)

    def _repr_html_(self) -> str:
        table = self.chosen.to_html(float_format="{:.4g}".format) if len(self.chosen) else "<p>(no run chosen)</p>"
        return (
            f"<h4>Runs to train next for C = {self.budget:.3g} FLOPs (target: {html.escape(self.target)})</h4>"
            f"<p>{self.current:.4g} now, {self.expected_after:.4g} expected after these runs.</p>"
            + table
            + "".join(f"<p><b>Note:</b> {html.escape(n)}</p>" for n in self.notes)
        )


def _targets(fit: Any, budget: float, target: str, params: Mapping[str, np.ndarray], n: int, plan_kwargs: Any) -> Any:
    """A function of weights (sims x draws, rows summing to one) giving the target per row."""
    p = plan(fit, budget, **plan_kwargs)
    opt = {k: p.optimum[k].values.reshape(-1) for k in p.optimum.data_vars}
    if target in ("n_opt_width", "G_width", "S_width", "loss_width"):
        key = {"n_opt_width": fit.law.size_input, "G_width": "G", "S_width": "S", "loss_width": "loss"}[target]
        if key not in opt:
            raise PlanError(f"target {target!r} needs {key} in the plan, and {fit.law.name!r} does not plan it")
        values = opt[key] if key in ("loss", "S") else np.log(opt[key])
        order = np.argsort(values, kind="stable")
        sorted_values = values[order]

        def width(w: np.ndarray) -> np.ndarray:
            lo, hi = weighted_eti(sorted_values, w[:, order], INTERVAL_PROB)
            return hi - lo

        return width
    # regret of the Bayes decision among the per-draw optima of a thinned set of draws
    problem = p.problem
    assert problem is not None
    keep = np.unique(np.linspace(0, n - 1, min(DECISION_SET, n)).round().astype(int))
    configs = {k: opt[k][keep][None, :] for k in fit.law.inputs if k in opt}
    configs.update({k: np.full((1, len(keep)), v) for k, v in problem.fixed.items()})
    with np.errstate(all="ignore"):
        lmat = np.asarray(fit.law.loss_fn({k: v[:, None] for k, v in params.items()}, configs), float)
    lmat = np.where(np.isfinite(lmat), lmat, np.inf)
    finite = np.where(np.isfinite(lmat), lmat, 1e9)  # for the risk, computed once (regret is called per candidate)
    best = opt["loss"]

    def regret(w: np.ndarray) -> np.ndarray:
        risk = w @ finite
        k = np.argmin(risk, axis=1)
        return np.einsum("si,si->s", w, lmat[:, k].T - best[None, :])

    return regret


def outcomes(
    sub: Any, x: Mapping[str, np.ndarray], mean: np.ndarray, simulations: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulated log losses at the candidates ``x`` (simulations x R), the draw each simulation
    came from, and log p(y | draw i) (simulations x draws x R), both from the fit's full
    predictive (:mod:`bayesmoe.laws.observation`: Student-t or Normal noise, and the discrepancy
    beyond the training runs in its shape), exactly. ``mean`` (draws x R) is the law's loss at
    the candidates for the draws of ``sub``.

    A refit will weigh a trained run by its noise alone (it then lies inside the runs), but
    weighing by the noise alone here made worse choices: in ``benchmarks/design.py`` (Chinchilla,
    Student-t, 20 studies) the design's realised width was 0.94 against 0.86 with the full
    predictive. A far run then looks decisive on few draws (importance weights degenerate) and
    the greedy step prefers it; the full predictive counts what a far run cannot tell apart from
    the law's own error."""
    n = mean.shape[0]
    noise = {k: v[:, None] for k, v in observation.noise_draws(sub.idata.posterior, sub.likelihood, flat=True).items()}
    post = sub.idata.posterior  # the thinned fit: one chain
    log_mean = xr.DataArray(
        np.log(mean).reshape(post.sizes["chain"], post.sizes["draw"], -1), dims=("chain", "draw", "cell")
    )
    cells = {k: xr.DataArray(np.broadcast_to(np.asarray(v, float), mean.shape[1:]), dims="cell") for k, v in x.items()}
    dsd = discrepancy_sd_draws(sub, cells, log_mean).values.reshape(mean.shape)
    form = sub.discrepancy_kwargs()["form"] if sub.discrepancy is not None else None
    j = rng.integers(0, n, simulations)
    shape = (simulations, mean.shape[1])
    err = observation.draw_errors({k: v[j] for k, v in noise.items()}, sub.likelihood, shape, rng)
    y = np.log(mean[j]) + dsd[j] * observation.standard_discrepancy(rng, shape, form) + err
    loglik = observation.predictive_log_density(
        y[:, None, :] - np.log(mean)[None], {k: v[None] for k, v in noise.items()}, sub.likelihood, dsd[None], form
    )
    return y, j, loglik


def design(
    fit: Any,
    *,
    budget: float,
    candidates: pd.DataFrame,
    spend: float,
    target: str = "n_opt_width",
    simulations: int = 64,
    draws: int = 1000,
    max_runs: int | None = None,
    attention_flops: float = 0.0,
    seed: int = 0,
    **plan_kwargs: Any,
) -> Design:
    """Choose which of ``candidates`` (rows giving every input of the law) to train next with
    at most ``spend`` FLOPs in total, so as to sharpen the decision at ``budget`` FLOPs.

    ``target``: one of :data:`TARGETS` (default: the 90 % interval width of log N*, or of
    log N_a* for laws with N_a). Plan limits (``max_total_params``, ...) pass through to
    :func:`~bayesmoe.plan`. ``simulations`` outcomes are drawn per candidate from the full
    predictive of ``draws`` thinned posterior draws.
    """
    require_single(fit, "design")
    if target not in TARGETS:
        raise PlanError(f"unknown design target {target!r}; choose one of {TARGETS}")
    if not (isinstance(spend, int | float) and math.isfinite(spend) and spend > 0):
        raise PlanError(f"spend must be a positive number of FLOPs, got {spend!r}")
    if fit.groups:
        raise PlanError("design does not support grouped fits; design per group")
    law = fit.law
    if not isinstance(candidates, pd.DataFrame) or candidates.empty:
        raise PlanError("candidates must be a non-empty table with one row per candidate run")
    missing = [k for k in law.inputs if k not in candidates.columns]
    if missing:
        raise PlanError(f"candidates lack input column(s) {missing} of {law.name!r}")
    cand = candidates.reset_index(drop=True).copy()
    x = {k: cand[k].to_numpy(float) for k in law.inputs}
    if any(not np.all(np.isfinite(v) & (v > 0)) for k, v in x.items() if k not in ("S",)):
        raise PlanError("candidate inputs must be finite and positive (S may be 0)")
    counted = cand.assign(**{k: x[k] for k in law.inputs})
    if law.active_tree is not None and "N_a" not in counted:  # a law in total N counts FLOPs from its N_a formula
        counted["N_a"] = law.activated(x)
    cand["C"] = compute_of(counted).to_numpy(float)
    if attention_flops:
        cand["C"] = cand["C"] + attention_flops * cand["D"]

    sub = fit.thinned(draws)  # the same draws for the plan, the predictive and the weights
    params, n, _ = param_arrays(sub, None)
    target_of = _targets(sub, budget, target, params, n, plan_kwargs)
    uniform = np.full((1, n), 1.0 / n)
    current = float(target_of(uniform)[0])

    # the predictive at every candidate, per draw: law (n x R), noise and discrepancy sds
    with np.errstate(all="ignore"):
        mean = np.asarray(
            law.loss_fn({k: v[:, None] for k, v in params.items()}, {k: v[None, :] for k, v in x.items()})
        )
    mean = np.broadcast_to(mean, (n, len(cand)))
    if not np.all(np.isfinite(mean) & (mean > 0)):
        raise PlanError("the law gives no finite positive loss at some candidates; check their inputs")
    rng = np.random.default_rng(seed)
    _, _, loglik = outcomes(sub, x, mean, simulations, rng)

    accum = np.zeros((simulations, n))
    left, chosen_rows, ranking = float(spend), [], None
    value_now = current
    notes: list[str] = []
    while max_runs is None or len(chosen_rows) < max_runs:
        afford = np.flatnonzero((cand["C"].to_numpy() <= left) & ~cand.index.isin([r["row"] for r in chosen_rows]))
        if not len(afford):
            break
        after = np.empty(len(afford))
        ess = np.empty(len(afford))
        for a, r in enumerate(afford):
            lw = accum + loglik[:, :, r]
            w = softmax(lw, axis=1)
            after[a] = float(np.mean(target_of(w)))
            ess[a] = float(np.mean(1.0 / np.sum(w**2, axis=1)))
        gain = value_now - after
        per = gain / cand["C"].to_numpy()[afford] * 1e18
        if ranking is None:
            ranking = cand.iloc[afford].assign(
                expected_target_after=after, expected_reduction=gain, reduction_per_1e18_flops=per, ess=ess
            )
        best = int(np.argmax(per))
        if gain[best] <= 0:
            break
        r = int(afford[best])
        accum = accum + loglik[:, :, r]
        left -= float(cand["C"].iloc[r])
        value_now = float(after[best])
        chosen_rows.append(
            {
                "row": r,
                "expected_target_after": after[best],
                "expected_reduction": gain[best],
                "reduction_per_1e18_flops": per[best],
                "ess": ess[best],
            }
        )
        if ess[best] < 0.05 * n:
            notes.append(
                f"after run {len(chosen_rows)} the importance weights rest on {ess[best]:.0f} of {n} draws: "
                "the predicted reduction is rough; refit with that run's real outcome before choosing more"
            )
    if chosen_rows:
        info = pd.DataFrame(chosen_rows).set_index("row")
        chosen = cand.loc[info.index].join(info)
    else:
        chosen = cand.iloc[:0].assign(
            expected_target_after=[], expected_reduction=[], reduction_per_1e18_flops=[], ess=[]
        )
        notes.append("no candidate is expected to sharpen the target within the spend")
    if ranking is None:
        raise PlanError(f"no candidate fits the spend of {spend:.3g} FLOPs (the cheapest needs {cand['C'].min():.3g})")
    ranking = ranking.sort_values("reduction_per_1e18_flops", ascending=False)
    return Design(float(budget), target, current, chosen.reset_index(drop=True), ranking, float(spend), notes)


__all__ = ["TARGETS", "Design", "design", "outcomes"]
