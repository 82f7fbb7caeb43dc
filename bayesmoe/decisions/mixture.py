"""A stacked predictive (Yao et al. 2018): fits of several laws to the same runs, mixed with weights.

A :class:`Stacked` behaves like a single fit for :func:`~bayesmoe.predict`,
:func:`~bayesmoe.plan` and backtest scoring: its draws are the draws of each component fit,
``round(weight * n)`` of them (evenly spaced over that fit's chains and draws), concatenated
along ``draw`` with a ``law`` coordinate saying where each came from. Each component keeps its
own observation model (noise, discrepancy). The weights come from
:func:`bayesmoe.stack` (leave-future-out or PSIS-LOO stacking) or are given.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.errors import FitError


@dataclass(frozen=True)
class Stacked:
    """A weighted mixture of fits (one law each) to the same runs."""

    fits: Mapping[str, Any]
    weights: pd.Series  # name -> weight, summing to one
    method: str = "given"  # how the weights were found

    def __post_init__(self) -> None:
        names = list(self.fits)
        if len(names) < 2:
            raise FitError("a stacked predictive needs at least two fits")
        w = pd.Series(self.weights, dtype=float)
        if sorted(map(str, w.index)) != sorted(map(str, names)):
            raise FitError(f"stacking weights are for {list(w.index)}, the fits are {names}")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0) and w.sum() > 0):
            raise FitError(f"stacking weights must be finite, non-negative and not all zero: {w.to_dict()}")
        object.__setattr__(self, "weights", (w / w.sum()).reindex(names).rename("weight"))
        first = self.fits[names[0]]
        for name, f in self.fits.items():
            if f.groups:
                raise FitError(f"fit {name!r} has groups; stack ungrouped fits (one per group)")
            if f.runs.loss_unit != first.runs.loss_unit:
                raise FitError(
                    f"stacked fits must measure loss alike: {names[0]!r} in {first.runs.loss_unit}, "
                    f"{name!r} in {f.runs.loss_unit}"
                )
            if sorted(f.law.inputs) != sorted(first.law.inputs):
                raise FitError(
                    f"stacked laws must share their inputs: {names[0]!r} uses {first.law.inputs}, "
                    f"{name!r} uses {f.law.inputs}"
                )

    @property
    def name(self) -> str:
        """e.g. ``stacked(chinchilla 0.72, kaplan2020 0.28)``."""
        return "stacked(" + ", ".join(f"{k} {w:.2f}" for k, w in self.weights.items()) + ")"

    @property
    def runs(self) -> Any:
        """The runs the fits share (the first fit's table)."""
        return next(iter(self.fits.values())).runs

    @property
    def inputs(self) -> list[str]:
        return list(next(iter(self.fits.values())).law.inputs)

    @property
    def n_draws(self) -> int:
        """Draws of the mixture: as many as its smallest component has."""
        return min(int(f.idata.posterior.sizes["chain"] * f.idata.posterior.sizes["draw"]) for f in self.fits.values())

    def allocation(self) -> dict[str, int]:
        """How many draws each fit contributes (largest remainder; the counts sum to :attr:`n_draws`)."""
        n = self.n_draws
        raw = self.weights.to_numpy() * n
        counts = np.floor(raw).astype(int)
        counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
        return dict(zip(self.weights.index, counts.tolist(), strict=True))

    def components(self) -> Iterator[tuple[str, Any, np.ndarray]]:
        """(name, fit, flat draw indices) of every fit with a positive share."""
        for name, count in self.allocation().items():
            if count:
                f = self.fits[name]
                total = f.idata.posterior.sizes["chain"] * f.idata.posterior.sizes["draw"]
                yield name, f, np.unique(np.linspace(0, total - 1, count).round().astype(int))

    def combine(self, per_fit: Callable[[Any], xr.DataArray]) -> xr.DataArray:
        """Apply ``per_fit`` (a DataArray with dims chain, draw, ...) to every component and
        concatenate the allocated draws: dims ``chain`` (one), ``draw``, ...; coordinate ``law``."""
        parts, labels = [], []
        for name, f, idx in self.components():
            da = per_fit(f)
            flat = da.stack(_sample=("chain", "draw")).transpose("_sample", ...).isel(_sample=idx)
            parts.append(flat.drop_vars(["_sample", "chain", "draw"]).rename(_sample="draw"))
            labels += [name] * len(idx)
        out = xr.concat(parts, dim="draw", coords="minimal", compat="override", combine_attrs="drop_conflicts")
        out = out.assign_coords(draw=np.arange(out.sizes["draw"]), law=("draw", labels)).expand_dims(chain=[0])
        return out.transpose("chain", "draw", ...)

    def flat_params(self) -> Iterator[tuple[str, Any, np.ndarray, dict[str, np.ndarray]]]:
        """(name, fit, flat draw indices, the law's parameters at those draws as flat arrays)."""
        for name, f, idx in self.components():
            draws = f.draws(None)
            yield name, f, idx, {k: draws[k].values.reshape(-1)[idx] for k in draws.data_vars}

    def __repr__(self) -> str:
        runs = len(next(iter(self.fits.values())).runs)
        return f"{self.name}: {self.method} weights over {len(self.fits)} laws fitted to the same {runs} runs"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(repr(self))}</p>" + self.weights.to_frame().to_html(float_format="{:.3f}".format)


def label(fit: Any) -> str:
    """The law's name, or the stacked predictive's."""
    return fit.name if isinstance(fit, Stacked) else fit.law.name


def require_single(fit: Any, what: str) -> None:
    """Refuse a stacked predictive where only a single law's fit makes sense."""
    if isinstance(fit, Stacked):
        raise FitError(f"{what} needs the fit of one law; pass one of the stacked fits ({list(fit.fits)})")
