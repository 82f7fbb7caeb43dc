"""Extrapolation backtests: fit on the cheap runs, score on the expensive ones.

Per law: held-out log predictive density, coverage of the 50 % and 90 % predictive
intervals, and median absolute / relative error of the predictive median - with the
field's Huber point fit (bootstrap intervals) in the same table as a baseline.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from bayesmoe._optional import require
from bayesmoe.config import INTERVAL_PROB
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.criticism.future import stack as stack_fits
from bayesmoe.criticism.scoring import score_draws
from bayesmoe.decisions.mixture import Stacked
from bayesmoe.decisions.prediction import predictive_parts
from bayesmoe.errors import BayesMoEError
from bayesmoe.inference.fitting import fit as fit_law
from bayesmoe.intervals import eti, eti_labels
from bayesmoe.laws import observation
from bayesmoe.laws.catalogue import get_law
from bayesmoe.progress import track
from bayesmoe.runs import Runs, load_runs
from bayesmoe.runs.columns import UNITS
from bayesmoe.runs.compute import compute_of


class BacktestError(BayesMoEError, ValueError):
    """A backtest request that cannot be run (bad split, empty side, ...)."""


def split_runs(runs: Runs, split: str | Sequence[bool] | np.ndarray | pd.Series) -> tuple[Runs, Runs, str]:
    """``"compute:0.7"`` (cheapest 70 % train), ``"N_a:0.5"``, a threshold ``"N:<=1e9"``, or a
    boolean mask of the training runs (one entry per run)."""
    df = runs.df
    if not isinstance(split, str):
        mask = np.asarray(split)
        if mask.dtype != bool or mask.shape != (len(df),):
            raise BacktestError(
                f"a split mask must be booleans, one per run ({len(df)}), got dtype {mask.dtype} and shape {mask.shape}"
            )
        train = pd.Series(mask, index=df.index)
        how = f"a mask ({int(mask.sum())} of {len(df)} runs)"
        return _sides(runs, train, how, "mask")
    m = re.fullmatch(r"\s*([A-Za-z_]+)\s*:\s*(<=)?\s*([0-9.eE+-]+)\s*", split or "")
    if not m:
        raise BacktestError(f"split must look like 'compute:0.7' or 'N:<=1e9', got {split!r}")
    col, is_threshold, value = m.group(1), bool(m.group(2)), float(m.group(3))
    if col == "compute":
        key = compute_of(df)
    elif col in df.columns:
        key = pd.to_numeric(df[col], errors="raise").astype(float)
    else:
        raise BacktestError(f"split column {col!r} is not in the runs table; columns: {list(df.columns)}")
    if is_threshold:
        train = key <= value
        how = f"{col} <= {value:g}"
    else:
        if not 0 < value < 1:
            raise BacktestError(f"split fraction must lie in (0, 1), got {value}")
        cut = np.quantile(key, value)
        train = key <= cut
        how = f"{col} <= {cut:.3g} (cheapest {value:.0%})"
    return _sides(runs, train, how, repr(split))


def _sides(runs: Runs, train: pd.Series, how: str, what: str) -> tuple[Runs, Runs, str]:
    if train.all() or (~train).all():
        raise BacktestError(
            f"split {what} leaves no runs on one side ({int(train.sum())} train, {int((~train).sum())} test)"
        )
    return runs.subset(train.to_numpy()), runs.subset((~train).to_numpy()), how


def _predictive_draws(fit: Any, test: Runs, groups: str | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per draw and held-out run: the log density of the observed loss and a predictive draw of
    it, both from the fit's full predictive (law, discrepancy, noise); a stacked predictive
    pools its components' draws by weight."""
    if isinstance(fit, Stacked):
        parts = [(_predictive_draws(f, test, None, seed), idx) for _, f, idx in fit.components()]
        return tuple(np.concatenate([p[i][idx] for p, idx in parts]) for i in range(2))  # type: ignore[return-value]
    law = fit.law
    n_draws = fit.idata.posterior.sizes["chain"] * fit.idata.posterior.sizes["draw"]
    log_mean, delta, eps = (np.empty((n_draws, len(test))) for _ in range(3))
    parts_by_group = test.df.groupby(groups).indices.items() if groups else [(None, np.arange(len(test)))]
    for g, idx in parts_by_group:
        level = str(g) if g is not None and str(g) in fit.group_levels else None
        parts = predictive_parts(fit, test.df.iloc[idx][law.inputs], group=level, seed=seed)
        for out, part in zip((log_mean, delta, eps), parts, strict=True):
            out[:, idx] = part.values.reshape(n_draws, len(idx))
    noise = {k: v.values.reshape(-1, 1) for k, v in fit.noise().items()}
    # one discrepancy draw per posterior draw
    ll = observation.loss_log_density(test.loss()[None, :], log_mean + delta, noise, fit.likelihood)
    return ll, np.exp(log_mean + delta + eps)


def _bayes_scores(fit: Any, test: Runs, groups: str | None, seed: int) -> tuple[dict[str, float], np.ndarray]:
    """Scores of a fit (or a stacked predictive) on held-out runs, and its predictive draws."""
    ll, rep = _predictive_draws(fit, test, groups, seed)
    lpd = float(np.mean(logsumexp(ll, axis=0) - np.log(ll.shape[0])))
    first = next(iter(fit.fits.values())) if isinstance(fit, Stacked) else fit
    decades_beyond = first.decades_beyond(test.df)
    decades = float(np.max(decades_beyond, initial=0.0))
    fits = [f for _, f, _ in fit.components()] if isinstance(fit, Stacked) else [fit]  # those with draws in it
    has_mean = not any(f.likelihood in observation.NO_LOSS_MEAN for f in fits)
    scores = score_draws(rep, test.loss(), has_mean=has_mean)
    return {"lpd_per_run": lpd, **scores, "max_decades_beyond": decades}, rep


@dataclass
class Backtest:
    split: str
    n_train: int
    n_test: int
    table: pd.DataFrame
    predictions: pd.DataFrame  # per held-out run and method: observed, median, eti_5%, eti_95%
    loss_unit: str = UNITS["loss"]  # what the runs' loss measures

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "table": {str(i): row.to_dict() for i, row in self.table.iterrows()},
        }

    def __repr__(self) -> str:
        return (
            f"Backtest: train on {self.split} ({self.n_train} runs), score on {self.n_test}\n"
            + self.table.to_string(float_format=lambda v: f"{v:.4g}")
        )

    def _repr_html_(self) -> str:
        return (
            f"<h4>Backtest: train on {html.escape(self.split)} ({self.n_train} runs), score on {self.n_test}</h4>"
            + self.table.to_html(float_format="{:.4g}".format)
        )


def backtest(
    laws: Sequence[str] | Mapping[str, Any],
    runs: Runs | Any,
    split: str | Sequence[bool] | np.ndarray | pd.Series = "compute:0.7",
    *,
    groups: str | None = None,
    baseline: bool = True,
    bootstrap: int = 200,
    starts: int = 256,
    stack: str | None = None,
    seed: int = 0,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> Backtest:
    """Fit each law on the cheap side of ``split`` and score it on the other side.

    ``split`` is ``"compute:F"`` (the cheapest fraction F trains), ``"COLUMN:F"``,
    ``"COLUMN:<=value"`` or a boolean mask of the training runs. The table has one row per
    method (``"<law> (Bayes)"``, ``"<law> (Huber + bootstrap)"``) with coverage at 50 / 90 %,
    the 90 % interval score and width, CRPS, errors of the predictive median, the held-out
    log density, how many decades beyond the training runs the test runs reach, and the
    fit's diagnostics (R-hat, divergences, min bulk ESS). Fit arguments pass through.

    ``laws`` is a list of names, or a dict of display name -> law (or a
    ``{"law": ..., "priors": ...}`` dict, whose other keys are passed to that law's fit,
    e.g. ``target_accept``). The Huber baseline is added per law when
    ``baseline`` (needs no groups).
    """
    runs = load_runs(runs)
    train, test, how = split_runs(runs, split)
    specs = {str(k): k for k in laws} if not isinstance(laws, Mapping) else dict(laws)
    if stack is not None and (len(specs) < 2 or groups):
        raise BacktestError("stack needs at least two laws and no groups")
    rows, preds, fitted = {}, [], {}
    y = test.loss()
    for name, spec in track(specs.items(), f"backtest ({how})", total=len(specs), progress=progress):
        spec = spec if isinstance(spec, Mapping) else {"law": spec}
        law = get_law(spec["law"])
        kw = {"progressbar": False, **fit_kwargs, **{k: v for k, v in spec.items() if k not in ("law", "priors")}}
        # diagnostics go into the table (max_r_hat, divergences, min_ess_bulk), not into warnings
        f = fit_law(law, train, groups=groups, priors=spec.get("priors"), **({"seed": seed, "warn": False} | kw))
        d = f.diagnostics()
        fitted[name] = f
        scores, rep = _bayes_scores(f, test, groups, seed)
        rows[f"{name} (Bayes)"] = scores | {
            "max_r_hat": d.max_r_hat,
            "divergences": d.divergences,
            "min_ess_bulk": d.min_ess_bulk,
        }
        preds.append(_pred_frame(f"{name} (Bayes)", rep, y))
        if baseline and not groups:
            require("jax", "jax", "the Huber baseline of backtest (or pass baseline=False)")
            pf = huber_fit(law, train, priors=spec.get("priors"), starts=starts, bootstrap=bootstrap, seed=seed)
            boot = pf.predict_bootstrap(test.df)
            ok = np.all(np.isfinite(boot) & (boot > 0), axis=1)
            rows[f"{name} (Huber + bootstrap)"] = {"lpd_per_run": float("nan"), **score_draws(boot[ok], y)}
            preds.append(_pred_frame(f"{name} (Huber + bootstrap)", boot[ok], y))
    if stack is not None:
        st = stack_fits(fitted, method=stack, seed=seed)
        scores, rep = _bayes_scores(st, test, None, seed)
        rows["stacked (Bayes)"] = scores | {f"weight:{k}": float(w) for k, w in st.weights.items()}
        preds.append(_pred_frame("stacked (Bayes)", rep, y))
    table = pd.DataFrame(rows).T
    return Backtest(how, len(train), len(test), table, pd.concat(preds, ignore_index=True), runs.loss_unit)


def _pred_frame(method: str, draws: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    lo, hi = eti(draws, INTERVAL_PROB, axis=0)
    a, b = eti_labels(INTERVAL_PROB)
    return pd.DataFrame(
        {"method": method, "run": np.arange(len(y)), "observed": y, "median": np.median(draws, axis=0), a: lo, b: hi}
    )
