"""Closed-form and discrete optima of a law, per posterior draw (e.g. Zhao et al.'s G*, S*).

Continuous optima are the law's own derived quantities (``[derived]`` in its file), so a
new law brings its optima with it. Discrete optima (G an integer, S on the grid of
shared-expert counts you can build) are found by evaluating the law at each candidate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.config import INTERVAL_PROB
from bayesmoe.errors import PlanError
from bayesmoe.intervals import median_eti


def optima(fit: Any, *, group: str | None = None, **inputs: Any) -> xr.Dataset:
    """Every derived quantity of the law per draw; those needing inputs use ``inputs``.

    For zhao2025: ``optima(fit, N=[30e9, 671e9])`` gives G_star, S_star, P_star and
    activation_ratio (with an ``N`` dim).
    """
    law = fit.law
    out = {}
    for name in law.derived_trees:
        need = law.derived_inputs(name)
        if any(k not in inputs for k in need):
            continue
        x = {k: _coord(k, inputs[k]) for k in need}
        out[name] = fit.derived(name, group=group, **x)
    unknown = set(inputs) - set(law.inputs)
    if unknown:
        raise PlanError(f"{sorted(unknown)} are not inputs of {law.name!r}")
    return xr.Dataset(out)


def _coord(name: str, values: Any) -> Any:
    arr = np.atleast_1d(np.asarray(values, float))
    return xr.DataArray(arr, dims=name, coords={name: arr}) if arr.size > 1 else float(arr[0])


def discrete_optimum(
    fit: Any, name: str, candidates: Sequence[float], at: Mapping[str, float], *, group: str | None = None
) -> xr.DataArray:
    """The best of ``candidates`` for input ``name`` in each draw, other inputs fixed at ``at``."""
    law = fit.law
    if name not in law.inputs:
        raise PlanError(f"{name!r} is not an input of {law.name!r} ({law.inputs})")
    missing = [k for k in law.inputs if k != name and k not in at]
    if missing:
        raise PlanError(f"discrete_optimum needs values for {missing}")
    cand = xr.DataArray(np.asarray(candidates, float), dims="candidate")
    d = fit.draws(group)
    loss = law.loss_fn({k: d[k] for k in d.data_vars}, {**{k: float(v) for k, v in at.items()}, name: cand})
    best = cand[loss.argmin("candidate")].drop_vars("candidate", errors="ignore")
    best.name = f"{name}_best"
    best.attrs["candidates"] = list(map(float, candidates))
    return best


def summarize_optima(ds: xr.Dataset, prob: float = INTERVAL_PROB) -> pd.DataFrame:
    """A table of median and equal-tailed interval for each optimum (one row per extra coordinate)."""
    rows = {}
    for name, da in ds.data_vars.items():
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if not extra:
            rows[name] = median_eti(da.values, prob)
            continue
        stacked = da.stack(cell=extra)
        for i in range(stacked.sizes["cell"]):
            label = ", ".join(
                f"{d}={v:g}" for d, v in zip(extra, np.atleast_1d(stacked["cell"].values[i]), strict=True)
            )
            rows[f"{name} ({label})"] = median_eti(stacked.isel(cell=i).values, prob)
    return pd.DataFrame(rows).T
