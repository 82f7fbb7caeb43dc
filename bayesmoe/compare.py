"""Compare law forms fitted to the same runs: PSIS-LOO, differences with standard errors,
Pareto-k checks (with exact refits of flagged runs on request) and stacking weights.

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
from scipy.special import logsumexp

from bayesmoe.errors import BayesMoEError
from bayesmoe.fit import log_density

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


def _check_same_runs(fits: Mapping[str, Any]) -> None:
    names = list(fits)
    ref = fits[names[0]].runs.loss()
    for name in names[1:]:
        other = fits[name].runs.loss()
        if other.shape != ref.shape or not np.array_equal(other, ref):
            raise CompareError(
                f"fits {names[0]!r} and {name!r} were made on different runs ({len(ref)} vs {len(other)} rows, or other losses): "
                "LOO can only compare laws fitted to the same runs"
            )


def _exact_loo(fit: Any, i: int, **fit_kwargs: Any) -> float:
    """log p(y_i | y_-i) from a refit without run i."""
    from bayesmoe.fit import fit as fit_law
    from bayesmoe.runs import Runs

    keep = np.ones(len(fit.runs), bool)
    keep[i] = False
    train = Runs(fit.runs.df.loc[keep].reset_index(drop=True), source=fit.runs.source, synthetic=fit.runs.synthetic)
    s = fit.settings
    kw = dict(draws=s.get("draws", 1000), tune=s.get("tune", 1000), chains=s.get("chains", 4), seed=s.get("seed", 0),
              sampler=s.get("sampler", "nutpie"), likelihood=s.get("likelihood", "normal"), progressbar=False, warn=False)  # fmt: skip
    kw.update(fit_kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = fit_law(fit.law, train, groups=fit.groups, pooled=fit.pooled or None, priors=fit.priors, **kw)
    row = fit.runs.df.iloc[[i]]
    group = str(row[fit.groups].iloc[0]) if fit.groups else None
    mu = np.log(refit.predict(row[fit.law.inputs], group=group).isel(config=0, drop=True))
    y = float(np.log(row["loss"].iloc[0]))
    ll = np.asarray(log_density(y, mu, refit.idata.posterior, refit.settings.get("likelihood", "normal"))).reshape(-1)
    return float(logsumexp(ll) - np.log(ll.size))


def compare(
    fits: Mapping[str, Any], *, refit_flagged: bool = False, max_refits: int = 10, **fit_kwargs: Any
) -> Comparison:
    """Compare fits by PSIS-LOO with stacking weights.

    Runs whose Pareto k exceeds 0.7 make PSIS-LOO unreliable there; with
    ``refit_flagged=True`` each (up to ``max_refits`` per fit) is replaced by an exact
    leave-one-out refit. Otherwise the table says which runs are flagged and what to do.
    """
    if len(fits) < 2:
        raise CompareError("compare needs at least two fits")
    for name, f in fits.items():
        if "log_likelihood" not in f.idata.groups():
            raise CompareError(f"fit {name!r} has no pointwise log-likelihood (fits from bayesmoe.fit always store it)")
        if f.idata.posterior.sizes["chain"] * f.idata.posterior.sizes["draw"] < 100:
            raise CompareError(f"fit {name!r} has too few draws for PSIS-LOO")
    _check_same_runs(fits)
    elpds: dict[str, Any] = {}
    ks: dict[str, np.ndarray] = {}
    messages: list[str] = []
    refitted: dict[str, list[int]] = {}
    for name, f in fits.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loo = az.loo(f.idata, pointwise=True)
        k = np.asarray(loo.pareto_k).reshape(-1)
        bad = np.flatnonzero(k > PARETO_K_MAX)
        if len(bad) and refit_flagged:
            todo = bad[:max_refits]
            loo_i = np.asarray(loo.loo_i).reshape(-1).copy()
            for i in todo:
                loo_i[i] = _exact_loo(f, int(i), **fit_kwargs)
            loo.loo_i.values[...] = loo_i
            loo["elpd_loo"] = float(loo_i.sum())
            loo["se"] = float(np.sqrt(len(loo_i) * np.var(loo_i)))
            k = k.copy()
            k[todo] = 0.0
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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare(elpds, ic="loo", method="stacking", scale="log")
    table["bad_pareto_k"] = [int(np.sum(ks[n] > PARETO_K_MAX)) for n in table.index]
    return Comparison(table=table, pareto_k=ks, messages=messages, refitted=refitted)
