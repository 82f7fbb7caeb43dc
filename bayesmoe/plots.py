"""Figures for notebooks and reports. Every function takes ``ax`` (or ``axes``) and returns
what it drew on, so figures compose; bands use :data:`bayesmoe.config.BAND_LEVELS`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesmoe.config import BAND_LEVELS, HDI_PROB


def _ax(ax: Any = None, **kw: Any) -> Any:
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(**kw)
    return ax


def _band(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    return tuple(np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0))  # type: ignore[return-value]


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
        pred = fit.predict(sub[law.inputs], group=g, predictive=True).values.reshape(-1, len(sub))
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
        xlabel=x,
        ylabel="loss (nats/token)",
        title=f"{law.name}: runs (dots), predictive median and 50/90 % bands",
    )
    if fit.groups:
        ax.legend(fontsize=8)
    return ax


def plot_surface(fit: Any, x: str, y: str, *, fixed: Mapping[str, float] | None = None, n: int = 60,
                 ranges: Mapping[str, tuple[float, float]] | None = None, axes: Any = None, group: str | None = None) -> Any:  # fmt: skip
    """Two panels over inputs x and y: posterior-median loss contours, and the 90 % interval width."""
    import matplotlib.pyplot as plt

    from bayesmoe.predict import surface_summary

    df = fit.runs.df
    ranges = dict(ranges or {})
    grid: dict[str, Any] = {}
    for k in (x, y):
        lo, hi = ranges.get(k, (df[k].min() / 3, df[k].max() * 3) if k in df and len(df) else (1e8, 1e11))
        grid[k] = np.geomspace(lo, hi, n)
    for k in fit.law.inputs:
        if k not in grid:
            if fixed is None or k not in fixed:
                raise ValueError(f"plot_surface needs fixed={{'{k}': value}} for input {k!r}")
            grid[k] = [fixed[k]]
    s = surface_summary(fit, grid, quantiles=((1 - HDI_PROB) / 2, 0.5, (1 + HDI_PROB) / 2), group=group).squeeze()
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(11, 4))
    med = s["quantiles"].sel(quantile=0.5).transpose(y, x)
    width = (s["quantiles"].isel(quantile=-1) - s["quantiles"].isel(quantile=0)).transpose(y, x)
    c0 = axes[0].contourf(grid[x], grid[y], med.values, levels=15, cmap="viridis")
    axes[0].contour(grid[x], grid[y], med.values, levels=15, colors="k", linewidths=0.3)
    c1 = axes[1].contourf(grid[x], grid[y], width.values, levels=15, cmap="magma")
    for a, c, label in ((axes[0], c0, "median loss"), (axes[1], c1, f"{HDI_PROB:.0%} interval width")):
        a.set(xscale="log", yscale="log", xlabel=x, ylabel=y, title=label)
        a.figure.colorbar(c, ax=a)
        if x in df and y in df:
            a.scatter(df[x], df[y], s=6, c="w", edgecolor="k", lw=0.3)
    return axes


def plot_isoflop(
    fit: Any,
    budgets: Sequence[float],
    *,
    ax: Any = None,
    n: int = 80,
    span: float = 30.0,
    n_points: int = 200,
    **plan_kwargs: Any,
) -> Any:
    """Loss against model size along iso-FLOP lines, with credible bands and per-draw optima."""
    from bayesmoe.plan import plan

    ax = _ax(ax, figsize=(6, 4))
    size = "N_a" if "N_a" in fit.law.inputs else "N"
    rng = np.random.default_rng(0)
    for i, c in enumerate(budgets):
        p = plan(fit, c, **plan_kwargs)
        centre = p.decision[size]
        sizes = np.geomspace(centre / span, centre * span, n)
        inputs = {k: np.full(n, v) for k, v in p.decision.items() if k in fit.law.inputs}
        inputs[size] = sizes
        inputs["D"] = c / (6 * sizes + plan_kwargs.get("attention_flops", 0.0))
        if "N" in fit.law.inputs and size == "N_a":
            inputs["N"] = np.maximum(inputs["N"], sizes)
        import pandas as pd

        loss = fit.predict(pd.DataFrame(inputs)).values.reshape(-1, n)
        lo, hi = _band(loss, HDI_PROB)
        ax.fill_between(sizes, lo, hi, color=f"C{i}", alpha=0.25, lw=0)
        ax.plot(sizes, np.median(loss, axis=0), color=f"C{i}", label=f"C = {c:.0e}")
        pick = rng.choice(p.optimum[size].size, min(n_points, p.optimum[size].size), replace=False)
        ax.scatter(
            p.optimum[size].values.ravel()[pick], p.optimum["loss"].values.ravel()[pick], s=3, color=f"C{i}", alpha=0.4
        )
    ax.set(xscale="log", xlabel=size, ylabel="loss (nats/token)", title="iso-FLOP curves, per-draw optima")
    ax.legend(fontsize=8)
    return ax


def plot_optimum_vs_budget(
    fit: Any, budgets: Sequence[float], *, variables: Sequence[str] | None = None, axes: Any = None, **plan_kwargs: Any
) -> Any:
    """Fan chart of the per-draw optimum (50 / 90 % bands) against compute."""
    import matplotlib.pyplot as plt

    from bayesmoe.plan import plan

    plans = [plan(fit, c, **plan_kwargs) for c in budgets]
    variables = list(variables or [v for v in ("N", "N_a", "D", "G", "S", "loss") if v in plans[0].optimum])
    if axes is None:
        _, axes = plt.subplots(1, len(variables), figsize=(3.2 * len(variables), 3.2), squeeze=False)
        axes = axes[0]
    for a, v in zip(axes, variables, strict=False):
        vals = np.stack([p.optimum[v].values.ravel() for p in plans])
        for level, alpha in zip(sorted(BAND_LEVELS, reverse=True), (0.2, 0.4), strict=False):
            lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2], axis=1)
            a.fill_between(budgets, lo, hi, color="C0", alpha=alpha, lw=0)
        a.plot(budgets, np.median(vals, axis=1), color="C0")
        a.set(
            xscale="log",
            yscale="log" if v not in ("S", "G", "loss") else "linear",
            xlabel="C (FLOPs)",
            title=f"optimal {v}",
        )
    return axes


def plot_optima(fit: Any, names: Sequence[str] | None = None, *, axes: Any = None, **inputs: Any) -> Any:
    """Posterior histograms of the law's derived optima (e.g. G*, S*, (N_a/N)*)."""
    import matplotlib.pyplot as plt

    from bayesmoe.decide import optima

    ds = optima(fit, **inputs)
    names = list(names or ds.data_vars)
    if axes is None:
        _, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
        axes = axes[0]
    for a, k in zip(axes, names, strict=False):
        da = ds[k]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        if extra:
            for j, val in enumerate(da[extra[0]].values):
                a.hist(da.isel({extra[0]: j}).values.ravel(), bins=40, alpha=0.6, label=f"{extra[0]}={val:.3g}")
            a.legend(fontsize=7)
        else:
            a.hist(da.values.ravel(), bins=40, color="C0", alpha=0.8)
        lo, hi = np.quantile(da.values, [(1 - HDI_PROB) / 2, (1 + HDI_PROB) / 2])
        a.set(title=f"{k}: {HDI_PROB:.0%} [{lo:.3g}, {hi:.3g}]", yticks=[])
    return axes


def plot_near_optimal(band: Any, *, ax: Any = None) -> Any:
    """The near-optimal band as a probability over one or two size coordinates."""
    ax = _ax(ax, figsize=(5, 4))
    if band.ndim == 1:
        d = band.dims[0]
        ax.plot(band[d], band.values)
        ax.set(xscale="log", xlabel=d, ylabel="P(within tolerance of optimum)", ylim=(0, 1))
    else:
        dx, dy = band.dims[:2]
        m = ax.pcolormesh(
            band[dx], band[dy], band.transpose(dy, dx).values, vmin=0, vmax=1, cmap="Greens", shading="auto"
        )
        ax.figure.colorbar(m, ax=ax, label="P(near-optimal)")
        ax.set(xscale="log", yscale="log", xlabel=dx, ylabel=dy)
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
    for i, (method, sub) in enumerate(p.groupby("method", sort=False)):
        ax.errorbar(sub["observed"], sub["median"], yerr=[sub["median"] - sub["lo_90"], sub["hi_90"] - sub["median"]],
                    fmt="o", ms=3, color=f"C{i}", alpha=0.7, label=method, lw=0.8)  # fmt: skip
    lo, hi = p[["observed", "lo_90"]].min().min(), p[["observed", "hi_90"]].max().max()
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax.set(xlabel="held-out loss", ylabel="predicted (median, 90 %)", title=f"backtest: train on {backtest.split}")
    ax.legend(fontsize=7)
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
    return az.plot_pair(fit.idata, var_names=names, kind="kde" if fit.idata.posterior.sizes["draw"] > 50 else "scatter",
                        divergences="sample_stats" in fit.idata.groups(), **kwargs)  # fmt: skip
