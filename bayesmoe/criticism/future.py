"""Leave-future-out cross-validation (Bürkner, Gabry & Vehtari 2020) and stacking on its scores.

Runs are ordered by training compute. Each run from the ``min_train``-th on is predicted from
the cheaper runs only (one step ahead): the fit on the first ``L`` runs is reused for later
runs by Pareto-smoothed importance sampling (PSIS; ratios are the likelihood of the runs added
since the last refit), and the law is refitted whenever the Pareto k of those ratios exceeds
0.7. Unlike PSIS-LOO, which asks how well a law interpolates, this asks how well it
extrapolates to the next, larger run - the question a compute plan depends on.

Stacking (Yao et al. 2018) chooses weights over laws that maximise the summed log score of
the weighted predictive mixture on these leave-future-out densities.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from bayesmoe.criticism.comparison import CompareError, check_same_runs, compare, refit_kwargs
from bayesmoe.decisions.mixture import Stacked
from bayesmoe.decisions.prediction import predictive_parts
from bayesmoe.inference.fitting import fit as fit_law
from bayesmoe.laws import observation
from bayesmoe.progress import track
from bayesmoe.runs.compute import compute_of

PARETO_K_MAX = 0.7


@dataclass
class LeaveFutureOut:
    """One-step-ahead log predictive densities of the runs, ordered by compute."""

    law: str
    pointwise: pd.DataFrame  # per scored run: row in the runs table, compute, elpd, Pareto k, refitted
    refits: int
    messages: list[str] = field(default_factory=list)

    @property
    def elpd(self) -> float:
        return float(self.pointwise["elpd"].sum())

    @property
    def se(self) -> float:
        return float(np.sqrt(len(self.pointwise) * self.pointwise["elpd"].var(ddof=0)))

    def __repr__(self) -> str:
        return (
            f"Leave-future-out ({self.law}): elpd {self.elpd:.2f} +/- {self.se:.2f} over {len(self.pointwise)} runs, "
            f"{self.refits} refits" + "".join(f"\n- {m}" for m in self.messages)
        )

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self)).replace(chr(10), '<br>')}</p>"


def _loglik(fit: Any, df: pd.DataFrame, *, discrepancy: bool, seed: int) -> np.ndarray:
    """log density of each run's loss per draw (draws x runs); beyond the data with the discrepancy."""
    log_mean, delta, _ = predictive_parts(fit, df[fit.law.inputs], seed=seed)
    n = log_mean.sizes["chain"] * log_mean.sizes["draw"]
    mu = log_mean.values.reshape(n, len(df)) + (delta.values.reshape(n, len(df)) if discrepancy else 0.0)
    noise = {k: v.values.reshape(-1, 1) for k, v in fit.noise().items()}
    return observation.loss_log_density(df["loss"].to_numpy(float)[None, :], mu, noise, fit.likelihood)


def leave_future_out(
    fit: Any, *, min_train: float | int = 0.5, seed: int = 0, progress: bool | None = None, **fit_kwargs: Any
) -> LeaveFutureOut:
    """Approximate one-step-ahead leave-future-out CV of ``fit``'s law on its runs.

    ``min_train``: how many of the cheapest runs the first fit sees (a count, or a fraction).
    Fit arguments default to those of ``fit`` (its groups are not supported here).
    ``progress``: a bar over the scored runs (default: only on a terminal).
    """
    if fit.groups:
        raise CompareError("leave_future_out does not support grouped fits; run it per group")
    runs = fit.runs
    n = len(runs)
    start = round(min_train * n) if isinstance(min_train, float) else int(min_train)
    if not 2 <= start < n:
        raise CompareError(f"min_train must leave between 2 and {n - 1} training runs, got {start}")
    compute = compute_of(runs.df).to_numpy()
    order = np.argsort(compute, kind="stable")
    kw = refit_kwargs(fit, seed) | fit_kwargs
    rows, messages, refits = [], [], 0
    ref, ref_at = None, start
    for i in track(range(start, n), f"leave-future-out ({fit.law.name})", progress=progress):
        target = runs.df.iloc[[order[i]]]
        k, refitted = 0.0, False
        if ref is not None and i > ref_at:
            added = runs.df.iloc[order[ref_at:i]]
            log_ratio = _loglik(ref, added, discrepancy=False, seed=seed).sum(axis=1)
            lw, k_arr = az.psislw(log_ratio[None, :])
            k = float(np.asarray(k_arr).ravel()[0])
        if ref is None or k > PARETO_K_MAX:
            ref, ref_at, refitted = fit_law(fit.law, runs.subset(runs.df.index[order[:i]]), **kw), i, True
            refits += 1
        ll = _loglik(ref, target, discrepancy=True, seed=seed + i)[:, 0]
        if ref_at == i:
            elpd = float(logsumexp(ll) - np.log(ll.size))
        else:
            weights = np.asarray(lw).ravel()
            elpd = float(logsumexp(weights + ll))
        row = {"run": int(order[i]), "compute": float(compute[order[i]]), "elpd": elpd, "pareto_k": k}
        rows.append(row | {"refitted": refitted})
    table = pd.DataFrame(rows)
    if refits > 0.5 * (n - start):
        messages.append(
            f"{refits} refits for {n - start} runs: importance sampling rarely held, each new run moves the posterior a lot"
        )
    return LeaveFutureOut(fit.law.name, table, refits, messages)


def stacking_weights(results: Mapping[str, LeaveFutureOut]) -> pd.Series:
    """Stacking weights (Yao et al. 2018) over laws from their leave-future-out densities."""
    names = list(results)
    if len(names) < 2:
        raise CompareError("stacking needs at least two leave-future-out results")
    runs = [tuple(results[n].pointwise["run"]) for n in names]
    if any(r != runs[0] for r in runs[1:]):
        raise CompareError("leave-future-out results were computed on different runs or start points")
    lpd = np.stack([results[n].pointwise["elpd"].to_numpy() for n in names])  # models x runs

    def loss(z: np.ndarray) -> float:
        return -float(np.sum(logsumexp(lpd + np.log(softmax(z))[:, None], axis=0)))

    z = minimize(loss, np.zeros(len(names)), method="BFGS").x
    return pd.Series(softmax(z), index=names, name="weight")


STACK_METHODS = ("lfo", "loo")


def stack(
    fits: Mapping[str, Any],
    *,
    method: str = "lfo",
    weights: Mapping[str, float] | None = None,
    min_train: float | int = 0.5,
    seed: int = 0,
) -> Stacked:
    """A stacked predictive over fits of different laws to the same runs.

    Weights (Yao et al. 2018) maximise the log score of the mixture on leave-future-out
    densities (``method="lfo"``, the question a compute plan asks: how well does each law
    predict the next, larger run) or on PSIS-LOO densities (``"loo"``, cheaper: no refits);
    or pass ``weights`` directly. The result is accepted by ``predict``, ``plan``,
    ``plan_sweep``, ``what_if`` and ``budget_for_target`` like a single fit.
    """
    if len(fits) < 2:
        raise CompareError("stacking needs at least two fits")
    check_same_runs(fits)
    if weights is not None:
        return Stacked(dict(fits), pd.Series(weights, dtype=float), "given")
    if method not in STACK_METHODS:
        raise CompareError(f"unknown stacking method {method!r}; choose one of {STACK_METHODS}")
    if method == "loo":
        w = compare(fits).weights
        return Stacked(dict(fits), w.reindex(list(fits)), "PSIS-LOO stacking")
    results = {name: leave_future_out(f, min_train=min_train, seed=seed) for name, f in fits.items()}
    return Stacked(dict(fits), stacking_weights(results), "leave-future-out stacking")
