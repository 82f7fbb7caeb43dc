"""Figures for notebooks and reports. Every function takes ``ax`` (or ``axes``) keyword-only and
returns what it drew on, so figures compose; bands are equal-tailed at
:data:`bayesmoe.config.BAND_LEVELS`; plots of a plan take the computed :class:`~bayesmoe.decisions.Plan`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.config import BAND_LEVELS, INTERVAL_PROB
from bayesmoe.decisions.closed_forms import optima
from bayesmoe.decisions.prediction import predict, surface_summary
from bayesmoe.intervals import eti, eti_bounds, eti_labels
from bayesmoe.runs.columns import UNITS
from bayesmoe.runs.compute import compute_of, flops_per_token, tokens_for_budget


def _ax(ax: Any = None, **kw: Any) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(**kw)
    return ax


def _band(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    return eti(draws, level, axis=0)


def _label(name: str, units: Mapping[str, str] | None = None) -> str:
    """An axis label with the quantity's unit, e.g. ``N_a (parameters)``; ``units``: a fit's or
    plan's own (its runs' loss unit), else the standard ones."""
    unit = (units or UNITS).get(name, "")
    return f"{name} ({unit})" if unit else name


def plot_runs(fit: Any, x: str | None = None, *, ax: Any = None, max_groups: int = 8) -> Any:
    """Observed runs against one input (log axes) with posterior-predictive bands per run."""
    ax = _ax(ax, figsize=(6, 4))
    law, df = fit.law, fit.runs.df
    x = x or law.inputs[0]
    groups = [None] if not fit.groups else list(fit.group_levels)[:max_groups]
    for i, g in enumerate(groups):
        sub = df if g is None else df[df[fit.groups].astype(str) == g]
        order = np.argsort(sub[x].to_numpy())
        sub = sub.iloc[order]
        pred = predict(fit, sub[law.inputs], group=g, predictive=True).values.reshape(-1, len(sub))
        colour = f"C{i}"
        med = np.median(pred, axis=0)
        for level, width in zip(sorted(BAND_LEVELS, reverse=True), (1.0, 3.0), strict=False):
            lo, hi = _band(pred, level)
            ax.vlines(sub[x], lo, hi, color=colour, alpha=0.35, lw=width)
        ax.scatter(sub[x], med, marker="_", s=60, color=colour, lw=1)
        ax.scatter(sub[x], sub["loss"], s=12, color=colour, edgecolor="k", lw=0.3, label=g or "runs", zorder=3)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=_label(x),
        ylabel=_label("loss", fit.runs.units()),
        title=f"{law.name}: runs (dots), predictive median and 50/90 % bands",
    )
    if fit.groups:
        ax.legend(fontsize=8)
    return ax


def plot_surface(
    fit: Any,
    x: str,
    y: str,
    *,
    fixed: Mapping[str, float] | None = None,
    n: int = 60,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    axes: Any = None,
    group: str | None = None,
) -> Any:
    """Two panels over inputs x and y: posterior-median loss contours, and the 90 % interval width."""
    import matplotlib.pyplot as plt

    df = fit.runs.df
    ranges = dict(ranges or {})
    grid: dict[str, Any] = {}
    for k in (x, y):
        lo, hi = ranges.get(k, (df[k].min() / 3, df[k].max() * 3) if k in df and len(df) else (1e8, 1e11))
        if k not in ranges:  # keep the default range inside what the input allows (E >= 1, S <= 1, ...)
            low, high = fit.law.input_bounds(k)
            lo = max(lo, low)
            hi = hi if high is None else min(hi, high)
        if not 0 < lo < hi:
            raise ValueError(f"plot_surface: range of {k!r} must satisfy 0 < low < high, got ({lo:g}, {hi:g})")
        grid[k] = np.geomspace(lo, hi, n)
    for k in fit.law.inputs:
        if k not in grid:
            if fixed is None or k not in fixed:
                raise ValueError(f"plot_surface needs fixed={{'{k}': value}} for input {k!r}")
            grid[k] = [fixed[k]]
    lo_q, hi_q = eti_bounds(INTERVAL_PROB)
    s = surface_summary(fit, grid, quantiles=(lo_q, 0.5, hi_q), group=group).squeeze()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    med = s["quantiles"].sel(quantile=0.5).transpose(y, x)
    width = (s["quantiles"].isel(quantile=-1) - s["quantiles"].isel(quantile=0)).transpose(y, x)
    c0 = axes[0].contourf(grid[x], grid[y], med.values, levels=15, cmap="viridis")
    axes[0].contour(grid[x], grid[y], med.values, levels=15, colors="k", linewidths=0.3)
    c1 = axes[1].contourf(grid[x], grid[y], width.values, levels=15, cmap="magma")
    for a, c, label in (
        (axes[0], c0, f"median loss ({fit.runs.loss_unit})"),
        (axes[1], c1, f"{INTERVAL_PROB:.0%} interval width ({fit.runs.loss_unit})"),
    ):
        a.set(xscale="log", yscale="log", xlabel=_label(x), ylabel=_label(y), title=label)
        a.figure.colorbar(c, ax=a)
        if x in df and y in df:
            a.scatter(df[x], df[y], s=6, c="w", edgecolor="k", lw=0.3)
    return axes


def plot_isoflop(
    fit: Any,
    plans: Sequence[Any],
    *,
    ax: Any = None,
    n: int = 80,
    span: float = 30.0,
    n_points: int = 200,
    group: str | None = None,
) -> Any:
    """Loss against model size along the iso-FLOP line of each computed plan (from :func:`bayesmoe.plan`
    on ``fit``), with credible bands and the per-draw optima. Curves use the parameters the plans
    used (their ``group``); ``group`` is only a check that they all used that one."""
    ax = _ax(ax, figsize=(6, 4))
    size = fit.law.size_input
    rng = np.random.default_rng(0)
    for i, p in enumerate(plans):
        if p.law != fit.law.name:
            raise ValueError(f"plan {i} was made with law {p.law!r}, not the fit's {fit.law.name!r}")
        if group is not None and p.group != group:
            raise ValueError(f"plan {i} used group {p.group!r}, not {group!r}: its optima would not lie on the curve")
        attention = p.problem.attention_flops if p.problem is not None else 0.0
        centre = p.decision[size]
        sizes = np.geomspace(centre / span, centre * span, n)
        inputs = {k: np.full(n, v) for k, v in p.decision.items() if k in fit.law.inputs}
        inputs[size] = sizes
        if "N" in fit.law.inputs and size == "N_a":
            inputs["N"] = np.maximum(inputs["N"], sizes)
        inputs["D"] = tokens_for_budget(p.budget, fit.law.activated(inputs), attention)  # as the plan counts
        if "M" in fit.law.inputs:
            inputs["M"] = flops_per_token(sizes, attention)
        if "C" in fit.law.inputs:
            inputs["C"] = np.full(n, p.budget)
        loss = predict(fit, pd.DataFrame(inputs), group=p.group).values.reshape(-1, n)
        lo, hi = _band(loss, INTERVAL_PROB)
        ax.fill_between(sizes, lo, hi, color=f"C{i}", alpha=0.25, lw=0)
        ax.plot(sizes, np.median(loss, axis=0), color=f"C{i}", label=f"C = {p.budget:.0e} FLOPs")
        pick = rng.choice(p.optimum[size].size, min(n_points, p.optimum[size].size), replace=False)
        ax.scatter(
            p.optimum[size].values.ravel()[pick], p.optimum["loss"].values.ravel()[pick], s=3, color=f"C{i}", alpha=0.4
        )
    ax.set(
        xscale="log",
        xlabel=_label(size),
        ylabel=_label("loss", fit.runs.units()),
        title="iso-FLOP curves, per-draw optima",
    )
    ax.legend(fontsize=8)
    return ax


def plot_optimum_vs_budget(plans: Sequence[Any], *, variables: Sequence[str] | None = None, axes: Any = None) -> Any:
    """Fan chart of the per-draw optimum (50 / 90 % bands) against compute, one computed plan per budget."""
    import matplotlib.pyplot as plt

    plans = sorted(plans, key=lambda p: p.budget)
    budgets = [p.budget for p in plans]
    variables = list(variables or [v for v in ("N", "N_a", "D", "G", "S", "loss") if v in plans[0].optimum])
    if axes is None:
        _, axes = plt.subplots(1, len(variables), figsize=(3.2 * len(variables), 3.2), squeeze=False)
        axes = axes[0]
    for a, v in zip(axes, variables, strict=False):
        vals = np.stack([p.optimum[v].values.ravel() for p in plans])
        for level, alpha in zip(sorted(BAND_LEVELS, reverse=True), (0.2, 0.4), strict=False):
            lo, hi = eti(vals, level, axis=1)
            a.fill_between(budgets, lo, hi, color="C0", alpha=alpha, lw=0)
        a.plot(budgets, np.median(vals, axis=1), color="C0")
        a.set(
            xscale="log",
            yscale="log" if v not in ("S", "G", "loss") else "linear",
            xlabel=_label("C"),
            ylabel=_label(v, plans[0].units()),
            title=f"optimal {v}",
        )
    return axes


def plot_extrapolation(fit: Any, plans: Sequence[Any], *, ax: Any = None) -> Any:
    """Loss against training compute: the runs, and the loss each plan's decision reaches with
    50 / 90 % predictive bands (model discrepancy included), beyond a line at the largest run."""
    plans = sorted(plans, key=lambda p: p.budget)
    ax = _ax(ax, figsize=(6, 4))
    df = fit.runs.df
    c_runs = compute_of(df)
    ax.scatter(c_runs, df["loss"], s=12, color="0.4", label=f"training runs ({len(df)})", zorder=3)
    budgets = np.array([p.budget for p in plans])
    vals = np.stack([p.decision_loss.values.ravel() for p in plans])
    for level, alpha in zip(sorted(BAND_LEVELS, reverse=True), (0.2, 0.4), strict=False):
        lo, hi = eti(vals, level, axis=1)
        ax.fill_between(budgets, lo, hi, color="C1", alpha=alpha, lw=0, label=f"{level:.0%} predictive band")
    ax.plot(budgets, np.median(vals, axis=1), color="C1", marker="o", ms=3, label="planned run (median loss)")
    ax.axvline(float(c_runs.max()), color="k", ls=":", lw=1, label="largest training run")
    ax.set(xscale="log", xlabel=_label("C"), ylabel=_label("loss", fit.runs.units()), title="extrapolation in compute")
    ax.legend(fontsize=7)
    return ax


def plot_optima(fit: Any, names: Sequence[str] | None = None, *, axes: Any = None, **inputs: Any) -> Any:
    """Posterior histograms of the law's derived optima (e.g. G*, S*, (N_a/N)*)."""
    import matplotlib.pyplot as plt

    ds = optima(fit, **inputs)
    names = list(names or ds.data_vars)
    if not names:
        raise ValueError(f"law {fit.law.name!r} defines no optima ([derived] entries) to plot")
    missing = [k for k in names if k not in ds]
    if missing:
        raise ValueError(f"law {fit.law.name!r} has no optimum {missing}; it has {list(ds.data_vars)}")
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False, layout="constrained")
        axes = axes[0]
    for a, k in zip(axes, names, strict=False):
        da = ds[k]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:  # one histogram and one interval per value of the extra input (e.g. N)
            for j, val in enumerate(da[extra[0]].values):
                v = da.isel({extra[0]: j}).values.ravel()
                lo, hi = eti(v, INTERVAL_PROB)
                a.hist(v, bins=40, alpha=0.6, label=f"{_label(extra[0])} = {val:.3g}: [{lo:.3g}, {hi:.3g}]")
            a.legend(fontsize=7, title=f"{INTERVAL_PROB:.0%} ETI", title_fontsize=7)
        else:
            a.hist(da.values.ravel(), bins=40, color="C0", alpha=0.8)
            lo, hi = eti(da.values, INTERVAL_PROB)
            a.text(
                0.02,
                0.95,
                f"{INTERVAL_PROB:.0%} ETI\n[{lo:.3g}, {hi:.3g}]",
                transform=a.transAxes,
                va="top",
                fontsize=8,
            )
        a.set(title=k, xlabel=f"{k} ({_optimum_unit(fit, k)})", yticks=[])
    return axes


def _optimum_unit(fit: Any, name: str) -> str:
    """Unit of a derived optimum for its axis label (the law's description, else dimensionless)."""
    spec = fit.law.spec.derived.get(name)
    desc = (spec.description or "") if spec is not None else ""
    return desc.split(" (")[0] if desc else "dimensionless"


def plot_near_optimal(band: Any, *, ax: Any = None) -> Any:
    """The near-optimal band as a probability over one or two size coordinates."""
    ax = _ax(ax, figsize=(5, 4))
    if band.ndim == 1:
        d = band.dims[0]
        ax.plot(band[d], band.values)
        ax.set(xscale="log", xlabel=_label(d), ylabel="P(within tolerance of optimum)", ylim=(0, 1))
    else:
        dx, dy = band.dims[:2]
        m = ax.pcolormesh(
            band[dx], band[dy], band.transpose(dy, dx).values, vmin=0, vmax=1, cmap="Greens", shading="auto"
        )
        ax.figure.colorbar(m, ax=ax, label="P(near-optimal)")
        ax.set(xscale="log", yscale="log", xlabel=_label(dx), ylabel=_label(dy))
    ax.set_title(band.attrs.get("description", "near-optimal band"))
    return ax


def plot_comparison(comparison: Any, *, ax: Any = None) -> Any:
    """ELPD with standard errors and stacking weights (ArviZ's compare plot)."""
    import arviz as az

    ax = _ax(ax, figsize=(6, 1 + 0.6 * len(comparison.table)))
    az.plot_compare(comparison.table, ax=ax, insample_dev=False)
    labels = [f"{t.get_text()} (w={comparison.weights.get(t.get_text(), np.nan):.2f})" for t in ax.get_yticklabels()]
    ax.set_yticks(ax.get_yticks(), labels)
    return ax


def plot_backtest(backtest: Any, *, ax: Any = None) -> Any:
    """Held-out loss against prediction (median and 90 % interval) per method."""
    ax = _ax(ax, figsize=(5, 5))
    p = backtest.predictions
    a, b = eti_labels(INTERVAL_PROB)
    for i, (method, sub) in enumerate(p.groupby("method", sort=False)):
        yerr = [sub["median"] - sub[a], sub[b] - sub["median"]]
        ax.errorbar(
            sub["observed"], sub["median"], yerr=yerr, fmt="o", ms=3, color=f"C{i}", alpha=0.7, label=method, lw=0.8
        )
    lo, hi = p[["observed", a]].min().min(), p[["observed", b]].max().max()
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(
        xlabel=f"held-out loss ({backtest.loss_unit})",
        ylabel=f"predicted (median, {INTERVAL_PROB:.0%} ETI)",
        title=f"backtest: train on {backtest.split}",
    )
    ax.legend(fontsize=7)
    return ax


def plot_design(design: Any, *, fit: Any = None, x: str | None = None, y: str | None = None, ax: Any = None) -> Any:
    """Candidate runs in the plane of two inputs, coloured by expected reduction of the design
    target per 1e18 FLOPs (each on its own); the chosen runs numbered in the order chosen, the
    training runs of ``fit`` in grey."""
    ax = _ax(ax, figsize=(6, 4.5))
    rank, chosen = design.ranking, design.chosen
    sizes = [k for k in ("N", "N_a", "D", "M", "G", "E") if k in rank.columns]
    if not (x and y) and len(sizes) < 2:
        raise ValueError(f"plot_design needs two inputs to place candidates; the candidates have {sizes}")
    x, y = x or sizes[0], y or sizes[1]
    if fit is not None:
        ax.scatter(fit.runs.df[x], fit.runs.df[y], s=10, color="0.6", label="training runs", zorder=1)
    pts = ax.scatter(
        rank[x], rank[y], c=rank["reduction_per_1e18_flops"], cmap="viridis", s=28, zorder=2, label="candidates"
    )
    ax.figure.colorbar(pts, ax=ax, label=f"expected reduction of {design.target} per 1e18 FLOPs")
    ax.scatter(chosen[x], chosen[y], s=120, facecolor="none", edgecolor="C3", lw=1.5, zorder=3, label="chosen")
    for i, (cx, cy) in enumerate(zip(chosen[x], chosen[y], strict=True), start=1):
        ax.annotate(str(i), (cx, cy), xytext=(5, 5), textcoords="offset points", color="C3", fontsize=9)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel=_label(x),
        ylabel=_label(y),
        title=f"runs to train next for C = {design.budget:.3g} FLOPs ({len(chosen)} chosen)",
    )
    ax.legend(fontsize=8)
    return ax


def plot_diagnostics(fit: Any, var_names: Sequence[str] | None = None, *, kind: str = "rank") -> Any:
    """Trace / rank plots of the law's parameters (ArviZ)."""
    import arviz as az

    names = list(var_names or fit.law.params)
    if kind == "trace":
        return az.plot_trace(fit.idata, var_names=names, compact=True)
    return az.plot_rank(fit.idata, var_names=names)


def plot_pair(fit: Any, var_names: Sequence[str] | None = None, **kwargs: Any) -> Any:
    """Pair plot of (by default) the exponents and their prefactors, where correlations live."""
    import arviz as az

    names = list(var_names or fit.law.params[:5])
    return az.plot_pair(
        fit.idata,
        var_names=names,
        kind="kde" if fit.idata.posterior.sizes["draw"] > 50 else "scatter",
        divergences="sample_stats" in fit.idata.groups(),
        **kwargs,
    )
