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
from bayesmoe.config import BAND_LEVELS, INTERVAL_PROB
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.decisions.prediction import predict
from bayesmoe.errors import BayesMoEError
from bayesmoe.inference.fitting import fit as fit_law
from bayesmoe.intervals import eti, eti_labels
from bayesmoe.laws import observation
from bayesmoe.laws.catalogue import get_law
from bayesmoe.runs import Runs, load_runs
from bayesmoe.runs.compute import compute_of


class BacktestError(BayesMoEError, ValueError):
    """A backtest request that cannot be run (bad split, empty side, ...)."""


def split_runs(runs: Runs, split: str) -> tuple[Runs, Runs, str]:
    """``"compute:0.7"`` (cheapest 70 % train), ``"N_a:0.5"``, or a threshold ``"N:<=1e9"``."""
    m = re.fullmatch(r"\s*([A-Za-z_]+)\s*:\s*(<=)?\s*([0-9.eE+-]+)\s*", split or "")
    if not m:
        raise BacktestError(f"split must look like 'compute:0.7' or 'N:<=1e9', got {split!r}")
    col, is_threshold, value = m.group(1), bool(m.group(2)), float(m.group(3))
    df = runs.df
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
    if train.all() or (~train).all():
        raise BacktestError(
            f"split {split!r} leaves no runs on one side ({int(train.sum())} train, {int((~train).sum())} test)"
        )
    mk = lambda mask: Runs(df.loc[mask].reset_index(drop=True), source=runs.source, synthetic=runs.synthetic)  # noqa: E731
    return mk(train.to_numpy()), mk((~train).to_numpy()), how


def _scores(
    pred: np.ndarray, noise: dict[str, np.ndarray] | None, likelihood: str, y: np.ndarray, rng: np.random.Generator
) -> tuple[dict[str, float], np.ndarray]:
    """Scores of held-out losses ``y`` from expected loss per draw (draws x runs) and the noise
    of each draw under the observation model (none for a point fit's bootstrap).

    Returns the scores and the predictive draws they were read from."""
    ly = np.log(y)
    if noise is not None:
        col = {k: v[:, None] for k, v in noise.items()}
        ll = np.asarray(observation.log_density(ly[None, :], np.log(pred), col, likelihood)) - ly  # density of loss
        lpd = float(np.mean(logsumexp(ll, axis=0) - np.log(len(pred))))
        rep = pred * np.exp(observation.draw_errors(col, likelihood, pred.shape, rng))
    else:
        lpd, rep = float("nan"), pred
    out = {"lpd_per_run": lpd}
    for level in BAND_LEVELS:
        lo, hi = eti(rep, level, axis=0)
        out[f"coverage_{int(level * 100)}"] = float(np.mean((y >= lo) & (y <= hi)))
    med = np.median(rep, axis=0)
    out["median_abs_error"] = float(np.median(np.abs(med - y)))
    out["median_rel_error"] = float(np.median(np.abs(med - y) / y))
    return out, rep


@dataclass
class Backtest:
    split: str
    n_train: int
    n_test: int
    table: pd.DataFrame
    predictions: pd.DataFrame  # per held-out run and method: observed, median, eti_5%, eti_95%

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
    split: str = "compute:0.7",
    *,
    groups: str | None = None,
    baseline: bool = True,
    bootstrap: int = 200,
    starts: int = 256,
    seed: int = 0,
    **fit_kwargs: Any,
) -> Backtest:
    """Fit each law on the cheap side of ``split`` and score it on the other side.

    ``laws`` is a list of names, or a dict of display name -> law (or a
    ``{"law": ..., "priors": ...}`` dict, whose other keys are passed to that law's fit,
    e.g. ``target_accept``). The Huber baseline is added per law when
    ``baseline`` (needs no groups).
    """
    runs = load_runs(runs)
    train, test, how = split_runs(runs, split)
    specs = {str(k): k for k in laws} if not isinstance(laws, Mapping) else dict(laws)
    rows, preds = {}, []
    rng = np.random.default_rng(seed)
    y = test.loss()
    for name, spec in specs.items():
        spec = spec if isinstance(spec, Mapping) else {"law": spec}
        law = get_law(spec["law"])
        kw = {"progressbar": False, **fit_kwargs, **{k: v for k, v in spec.items() if k not in ("law", "priors")}}
        # diagnostics go into the table (max_r_hat, divergences, min_ess_bulk), not into warnings
        f = fit_law(law, train, groups=groups, priors=spec.get("priors"), **({"seed": seed, "warn": False} | kw))
        pred = np.empty((f.idata.posterior.sizes["chain"] * f.idata.posterior.sizes["draw"], len(test)))
        if groups:
            for g, idx in test.df.groupby(groups).indices.items():
                level = str(g) if str(g) in f.group_levels else None
                pred[:, idx] = predict(f, test.df.iloc[idx][law.inputs], group=level).values.reshape(
                    len(pred), len(idx)
                )
        else:
            pred[:] = predict(f, test.df[law.inputs]).values.reshape(pred.shape)
        d = f.diagnostics()
        noise = {k: v.values.reshape(-1) for k, v in f.noise().items()}
        scores, rep = _scores(pred, noise, f.likelihood, y, rng)
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
            scores, rep = _scores(boot[ok], None, "normal", y, rng)
            rows[f"{name} (Huber + bootstrap)"] = scores
            preds.append(_pred_frame(f"{name} (Huber + bootstrap)", rep, y))
    table = pd.DataFrame(rows).T
    return Backtest(how, len(train), len(test), table, pd.concat(preds, ignore_index=True))


def _pred_frame(method: str, draws: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    lo, hi = eti(draws, INTERVAL_PROB, axis=0)
    a, b = eti_labels(INTERVAL_PROB)
    return pd.DataFrame(
        {"method": method, "run": np.arange(len(y)), "observed": y, "median": np.median(draws, axis=0), a: lo, b: hi}
    )
