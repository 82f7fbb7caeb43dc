"""Compare law forms fitted to the same runs: PSIS-LOO, differences with standard errors,
Pareto-k checks (with exact refits of flagged runs through ``az.reloo`` on request) and stacking weights.

ArviZ does the statistics; this module makes sure every fit carries what LOO needs and
refuses fits made on different runs.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.decisions.prediction import predict
from bayesmoe.errors import BayesMoEError
from bayesmoe.inference.fitting import fit as fit_law
from bayesmoe.laws import observation

PARETO_K_MAX = 0.7


class CompareError(BayesMoEError, ValueError):
    """Fits that cannot be compared (different runs, no log-likelihood, too few fits)."""


@dataclass
class Comparison:
    """PSIS-LOO comparison table with stacking weights and plain-words warnings."""

    table: pd.DataFrame
    pareto_k: dict[str, np.ndarray]
    messages: list[str] = field(default_factory=list)
    refitted: dict[str, list[int]] = field(default_factory=dict)

    @property
    def best(self) -> str:
        return str(self.table.index[0])

    @property
    def weights(self) -> pd.Series:
        return self.table["weight"]

    def to_dict(self) -> dict[str, Any]:
        cols = ["rank", "elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "bad_pareto_k"]
        return {
            "table": {str(i): {c: row[c] for c in cols if c in row} for i, row in self.table.iterrows()},
            "best": self.best,
            "messages": self.messages,
            "refitted": self.refitted,
        }

    def __repr__(self) -> str:
        cols = [c for c in ("elpd_loo", "se", "elpd_diff", "dse", "p_loo", "weight", "bad_pareto_k") if c in self.table]
        return self.table[cols].to_string(float_format=lambda v: f"{v:.3f}") + "".join(
            f"\n- {m}" for m in self.messages
        )

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages)
        return (
            "<h4>Law comparison (PSIS-LOO)</h4>"
            + self.table.to_html(float_format="{:.3f}".format)
            + (f"<ul>{items}</ul>" if items else "")
        )


def check_same_runs(fits: Mapping[str, Any]) -> None:
    names = list(fits)
    ref = fits[names[0]].runs.loss()
    for name in names[1:]:
        other = fits[name].runs.loss()
        if other.shape != ref.shape or not np.array_equal(other, ref):
            raise CompareError(
                f"fits {names[0]!r} and {name!r} were made on different runs ({len(ref)} vs {len(other)} rows, or other losses): "
                "LOO can only compare laws fitted to the same runs"
            )


def refit_kwargs(fit: Any, seed: int) -> dict[str, Any]:
    """Arguments of :func:`bayesmoe.fit` that refit ``fit``'s law the way it was fitted (quietly)."""
    s = fit.settings
    return {
        "draws": s.get("draws"),
        "tune": s.get("tune"),
        "chains": s.get("chains"),
        "target_accept": s.get("target_accept"),
        "sampler": s.get("sampler", "nutpie"),
        "likelihood": fit.likelihood,
        "discrepancy": fit.discrepancy,
        "priors": fit.priors,
        "centred": bool(s.get("centred", False)),
        "progressbar": False,
        "posterior_predictive": False,
        "warn": False,
        "seed": seed,
    }


class RefitWrapper(az.SamplingWrapper):
    """ArviZ's refit interface for a fit: ``az.reloo`` calls it to replace PSIS-LOO by an
    exact leave-one-out refit where Pareto k is too high."""

    def __init__(self, fit: Any, **fit_kwargs: Any):
        super().__init__(model=None, idata_orig=fit.idata)
        self.fit = fit
        self.fit_kwargs = refit_kwargs(fit, fit.settings.get("seed", 0)) | fit_kwargs

    def sel_observations(self, idx: Any) -> tuple[Any, Any]:
        """(runs without ``idx``, the left-out rows)."""
        keep = np.ones(len(self.fit.runs), bool)
        keep[np.asarray(idx).ravel()] = False
        runs = self.fit.runs
        return runs.subset(keep), runs.df.loc[~keep]

    def sample(self, modified_observed_data: Any) -> Any:
        f = self.fit
        return fit_law(f.law, modified_observed_data, groups=f.groups, pooled=f.pooled or None, **self.fit_kwargs)

    def get_inference_data(self, fitted_model: Any) -> Any:
        return fitted_model  # the Fit itself: log_likelihood__i needs its law and groups

    def log_likelihood__i(self, excluded_obs: Any, idata__i: Any) -> xr.DataArray:
        """log p(y_i | theta) for each draw of the refit, under its observation model."""
        refit = idata__i
        group = str(excluded_obs[refit.groups].iloc[0]) if refit.groups else None
        mu = np.log(predict(refit, excluded_obs[refit.law.inputs], group=group))
        y = xr.DataArray(np.log(excluded_obs["loss"].to_numpy(float)), dims="config")
        ll = observation.log_density(y, mu, refit.noise(), refit.likelihood)
        return ll.sum("config")


def compare(
    fits: Mapping[str, Any], *, refit_flagged: bool = False, max_refits: int = 10, **fit_kwargs: Any
) -> Comparison:
    """Compare fits by PSIS-LOO with stacking weights.

    Runs whose Pareto k exceeds 0.7 make PSIS-LOO unreliable there; with
    ``refit_flagged=True`` each (up to ``max_refits`` per fit) is replaced by an exact
    leave-one-out refit (``az.reloo`` through :class:`RefitWrapper`). Otherwise the table says which runs are flagged and what to do.
    """
    if len(fits) < 2:
        raise CompareError("compare needs at least two fits")
    for name, f in fits.items():
        if "log_likelihood" not in f.idata.groups():
            raise CompareError(
                f"fit {name!r} has no pointwise log-likelihood (fits from bayesmoe.inference.fitting always store it)"
            )
        if f.idata.posterior.sizes["chain"] * f.idata.posterior.sizes["draw"] < 100:
            raise CompareError(f"fit {name!r} has too few draws for PSIS-LOO")
    check_same_runs(fits)
    elpds: dict[str, Any] = {}
    ks: dict[str, np.ndarray] = {}
    messages: list[str] = []
    refitted: dict[str, list[int]] = {}
    for name, f in fits.items():
        with warnings.catch_warnings():
            # high Pareto k is reported below in plain words, with the fix
            warnings.filterwarnings(
                "ignore", message=r"(?s).*Estimated shape parameter of Pareto", category=UserWarning
            )
            loo = az.loo(f.idata, pointwise=True)
        k = np.asarray(loo.pareto_k).reshape(-1)
        bad = np.flatnonzero(k > PARETO_K_MAX)
        if len(bad) and refit_flagged:
            worst_first = bad[np.argsort(-k[bad], kind="stable")]  # the cap keeps the least reliable runs
            todo, later = np.sort(worst_first[:max_refits]), worst_first[max_refits:]
            # az.reloo refits every run above the threshold: hide those beyond the cap from it
            k_orig = k.copy()
            loo.pareto_k.values[later] = 0.0
            loo = az.reloo(RefitWrapper(f, **fit_kwargs), loo_orig=loo, k_thresh=PARETO_K_MAX, verbose=False)
            k = np.asarray(loo.pareto_k).reshape(-1).copy()
            k[later] = k_orig[later]
            loo.pareto_k.values[...] = k
            refitted[name] = [int(i) for i in todo]
            bad = np.flatnonzero(k > PARETO_K_MAX)
        if len(bad):
            rows = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
            messages.append(
                f"{name}: {len(bad)} run(s) with Pareto k > {PARETO_K_MAX} (rows {rows}); PSIS-LOO is unreliable there. "
                "Fix: compare(..., refit_flagged=True) to replace them by exact leave-one-out refits."
            )
        elpds[name] = loo
        ks[name] = k
    table = az.compare(elpds, ic="loo", method="stacking", scale="log")
    table["bad_pareto_k"] = [int(np.sum(ks[n] > PARETO_K_MAX)) for n in table.index]
    return Comparison(table=table, pareto_k=ks, messages=messages, refitted=refitted)
