"""Predictions: the law over posterior draws x a grid (expected or observed loss), as xarray."""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe._optional import require
from bayesmoe.decisions.mixture import Stacked, require_single
from bayesmoe.errors import FitError
from bayesmoe.laws import expr, observation
from bayesmoe.rowstats import row_mean_quantiles
from bayesmoe.runs.columns import CANONICAL


def as_grid(grid: Mapping[str, Any] | xr.Dataset | pd.DataFrame, law: Any) -> dict[str, xr.DataArray]:
    """Normalise a grid to named xarray inputs.

    * dict of numbers and 1-d sequences: an outer product, one dim per sequence (named after
      the input, kept for a sequence of one value as xarray's ``sel`` keeps it); a number adds none;
    * dict of DataArrays / a Dataset: used as given (xarray broadcasts by dim name);
    * DataFrame: one configuration per row, dim ``config``.
    """
    inputs = law.inputs
    if isinstance(grid, pd.DataFrame):
        out = {k: xr.DataArray(grid[k].to_numpy(float), dims="config") for k in grid.columns if k in inputs}
    elif isinstance(grid, xr.Dataset):
        out = {k: grid[k] for k in grid.data_vars if k in inputs}
    else:
        out = {}
        for k, v in grid.items():
            if isinstance(v, xr.DataArray):
                out[k] = v
            else:
                arr = np.asarray(v, dtype=float)
                if arr.ndim > 1:
                    raise FitError(f"grid values for {k!r} must be 1-d (or an xarray DataArray)")
                if arr.size == 0:
                    raise FitError(f"grid values for {k!r} are empty")
                # a sequence is an axis (even of one value), as in xarray's sel; a number is not
                out[k] = xr.DataArray(arr, dims=k, coords={k: arr}) if arr.ndim == 1 else xr.DataArray(float(arr))
    unknown = set(grid.columns if isinstance(grid, pd.DataFrame) else grid.keys()) - set(inputs)
    if isinstance(grid, xr.Dataset):
        unknown = set(grid.data_vars) - set(inputs)
    if unknown:
        raise FitError(f"grid has input(s) {sorted(unknown)} that the law does not use; its inputs are {inputs}")
    missing = [k for k in inputs if k not in out]
    if missing:
        raise FitError(f"grid lacks input(s) {missing}; the law needs {inputs}")
    for k, v in out.items():
        lo, hi = law.input_bounds(k)
        values = np.asarray(v, dtype=float)
        if not np.all(np.isfinite(values)):
            raise FitError(f"grid input {k!r} has NaN or infinite values")
        inclusive = k in CANONICAL and CANONICAL[k].inclusive
        bad = values < lo if inclusive else values <= lo
        if np.any(bad) or (hi is not None and np.any(values > hi)):
            raise FitError(
                f"grid input {k!r} must lie in {'[' if inclusive else '('}{lo:g}, {hi if hi is not None else 'inf'}]"
            )
    return out


def _expected_loss(fit: Any, x: Mapping[str, xr.DataArray], group: str | None) -> xr.DataArray:
    """The law's loss at the normalised grid ``x`` for every draw (dims chain, draw, then the grid's)."""
    params = fit.draws(group)
    out = fit.law.loss_fn({k: params[k] for k in params.data_vars}, x)
    out = xr.DataArray(out) if not isinstance(out, xr.DataArray) else out
    return out.broadcast_like(params[next(iter(params.data_vars))]).transpose("chain", "draw", ...)


def predictive_parts(
    fit: Any, grid: Mapping[str, Any] | xr.Dataset | pd.DataFrame, *, group: str | None = None, seed: int = 0
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """The three parts of a predictive draw of log loss per draw and cell: the law's log loss,
    the model discrepancy (zero inside the training runs, or when the fit has none) and the
    run-to-run noise. Their sum is a posterior predictive draw (:mod:`bayesmoe.laws.observation`).
    For a :class:`Stacked` predictive each component draws from its own observation model."""
    if isinstance(fit, Stacked):
        _no_group(group)
        parts = {n: predictive_parts(f, grid, seed=seed) for n, f in fit.fits.items()}
        return tuple(fit.combine(lambda f, i=i: parts[_name(fit, f)][i]) for i in range(3))  # type: ignore[return-value]
    x = as_grid(grid, fit.law)
    mean = _expected_loss(fit, x, group)
    rng = np.random.default_rng(seed)
    delta = xr.zeros_like(mean)
    if fit.discrepancy is not None:
        sd = discrepancy_sd_draws(fit, x, np.log(mean))
        delta = sd * observation.standard_discrepancy(rng, sd.shape, fit.discrepancy_kwargs()["form"])
    noise = fit.noise()
    shape_noise = {k: v.values.reshape(v.shape + (1,) * (mean.ndim - 2)) for k, v in noise.items()}
    eps = xr.DataArray(observation.draw_errors(shape_noise, fit.likelihood, mean.shape, rng), dims=mean.dims)
    return np.log(mean), delta, eps.assign_coords(mean.coords)


def discrepancy_sd_draws(fit: Any, x: Mapping[str, Any], log_mean: xr.DataArray) -> xr.DataArray:
    """sd of the model discrepancy per draw and point of ``x`` (dims of ``log_mean``, the law's
    log loss there per draw, whose spread over draws the top-up need not add); zero inside the
    training runs and for a fit without the term (:func:`bayesmoe.laws.observation.discrepancy_sd`)."""
    if fit.discrepancy is None:
        return xr.zeros_like(log_mean)
    kw = fit.discrepancy_kwargs()
    sd = observation.discrepancy_sd(
        observation.scale_draws(fit.idata),
        xr.zeros_like(log_mean) + fit.decades_beyond(x),
        kw["growth"],
        log_mean.var(("chain", "draw")),
        kw["combination"],
    )
    return sd.transpose(*log_mean.dims)


def predict(
    fit: Any,
    grid: Mapping[str, Any] | xr.Dataset | pd.DataFrame,
    *,
    group: str | None = None,
    predictive: bool = False,
    seed: int = 0,
) -> xr.DataArray:
    """Loss over the grid for every posterior draw: dims ``chain``, ``draw`` and the grid's.

    Expected loss by default; ``predictive=True`` draws the loss a run would observe: the
    law's loss plus model discrepancy beyond the training runs plus run-to-run noise, from
    the fit's observation model (:mod:`bayesmoe.laws.observation`: Normal or Student-t).
    A :class:`Stacked` predictive mixes its laws' draws by their weights (coordinate ``law``).
    """
    if isinstance(fit, Stacked) and not predictive:
        _no_group(group)
        out = fit.combine(lambda f: predict(f, grid))
        out.name = "loss"
        out.attrs.update(units=fit.runs.loss_unit, law=fit.name, kind="expected loss")
        return out
    if predictive:
        log_mean, delta, eps = predictive_parts(fit, grid, group=group, seed=seed)
        out = np.exp(log_mean + delta + eps)
        if isinstance(fit, Stacked):
            out.attrs.update(units=fit.runs.loss_unit, law=fit.name, kind="posterior predictive")
            return out.rename("loss")
    else:
        out = _expected_loss(fit, as_grid(grid, fit.law), group)
    out.name = "loss"
    out.attrs.update(
        units=fit.runs.loss_unit, law=fit.law.name, kind="posterior predictive" if predictive else "expected loss"
    )
    return out


def uncertainty_budget(
    fit: Any, grid: Mapping[str, Any] | xr.Dataset | pd.DataFrame, *, group: str | None = None
) -> xr.Dataset:
    """How much of a prediction's width comes from where: variances of log loss per cell from
    parameter uncertainty, model discrepancy and run-to-run noise, and their shares. For a
    :class:`Stacked` predictive, ``parameters`` includes the spread between its laws, and the
    discrepancy and noise variances are the weighted means of its components'."""
    if isinstance(fit, Stacked):
        _no_group(group)
        param = np.log(predict(fit, grid)).var(("chain", "draw")).drop_vars("law", errors="ignore")
        parts = [uncertainty_budget(f, grid) * w for f, w in zip(fit.fits.values(), fit.weights, strict=True)]
        ds = sum(parts[1:], parts[0])[["discrepancy", "noise"]]
        return _shares(param, ds["discrepancy"], ds["noise"])
    x = as_grid(grid, fit.law)
    log_mean = np.log(_expected_loss(fit, x, group))
    param = log_mean.var(("chain", "draw"))
    # delta has mean zero in every draw, so its variance is the mean over draws of its sd^2
    disc = (discrepancy_sd_draws(fit, x, log_mean) ** 2).mean(("chain", "draw"))
    noise = xr.zeros_like(param) + float((fit.idata.posterior["sigma"] ** 2).mean())
    return _shares(param, disc, noise)


def _shares(param: xr.DataArray, disc: xr.DataArray, noise: xr.DataArray) -> xr.Dataset:
    total = param + disc + noise
    ds = xr.Dataset({"parameters": param, "discrepancy": disc, "noise": noise})
    for k in list(ds.data_vars):
        ds[f"share_{k}"] = ds[k] / total
        ds[k].attrs["units"] = "(log loss)^2"  # whatever the loss unit: a log-scale variance is unit-free
    ds.attrs["description"] = "variance of predicted log loss by source (noise: sigma^2, the scale for Student-t)"
    return ds


def _no_group(group: str | None) -> None:
    if group is not None:
        raise FitError("a stacked predictive has no groups; stack per-group fits instead")


def _name(stacked: Stacked, fit: Any) -> str:
    return next(n for n, f in stacked.fits.items() if f is fit)


def surface_summary(
    fit: Any,
    grid: Mapping[str, Any] | xr.Dataset | pd.DataFrame,
    *,
    quantiles: tuple[float, ...] = (0.05, 0.5, 0.95),
    group: str | None = None,
    max_elements: int | None = None,
    backend: str = "auto",
) -> xr.Dataset:
    """Mean and quantiles of expected loss over draws for every grid cell, in bounded memory.

    On NumPy the grid keeps its axes: each input varies only along its own, with the draws as
    the last axis, so a term depending on one input is computed once per value of it, and the
    grid is evaluated a block of its first axis at a time (about ``max_elements`` draw-cell
    values at once; by default 2e6, 16 MB) and reduced per cell by
    :func:`bayesmoe.rowstats.row_mean_quantiles`; only the per-cell reductions are kept, so a
    1e6-cell x 4,000-draw surface never exists in full. On JAX cells are flattened into chunks
    of one fixed size (2e7 values by default; larger launches pay there).
    ``backend``: ``numpy``, ``jax`` (the same expression compiled by XLA, chunks of one
    fixed size so it compiles once) or ``auto`` (JAX when it sees a GPU, else NumPy).
    """
    require_single(fit, "surface_summary")
    if backend not in ("auto", "numpy", "jax"):
        raise FitError(f"unknown backend {backend!r}; choose auto, numpy or jax")
    if backend == "auto":
        backend = "jax" if _jax_has_gpu() else "numpy"
    elif backend == "jax":
        require("jax", "jax", "surface_summary(backend='jax')")
    if not all(0 < q < 1 for q in quantiles):
        raise FitError(f"quantiles must lie in (0, 1), got {quantiles}")
    x = as_grid(grid, fit.law)
    template = xr.broadcast(*x.values())[0] if x else xr.DataArray(0.0)
    dims = list(template.dims)
    shape = tuple(template.sizes[d] for d in dims)
    d = fit.draws(group)
    n_draws = d.sizes["chain"] * d.sizes["draw"]
    if max_elements is None:
        max_elements = 20_000_000 if backend == "jax" else 2_000_000
    if backend == "jax":
        mean, qs = _jax_surface(fit.law, d, x, template, dims, shape, quantiles, max_elements)
    else:
        mean, qs = _numpy_surface(fit.law, d, x, dims, shape, quantiles, max_elements)
    coords = {k: template[k] for k in template.coords}
    ds = xr.Dataset(
        {"mean": (dims, mean.reshape(shape)), "quantiles": (("quantile", *dims), qs.reshape((len(quantiles), *shape)))},
        coords={**coords, "quantile": list(quantiles)},
    )
    ds["mean"].attrs["units"] = ds["quantiles"].attrs["units"] = fit.runs.loss_unit
    ds.attrs.update(law=fit.law.name, draws=n_draws, kind="expected loss", backend=backend)
    return ds


def _numpy_surface(
    law: Any,
    d: xr.Dataset,
    x: Mapping[str, xr.DataArray],
    dims: list[str],
    shape: tuple,
    quantiles: Any,
    max_elements: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and quantiles per cell, a block of the first grid axis at a time.

    Each input keeps only its own grid axes (size 1 on the others) and the draws are the last
    axis, so a term of the law that depends on one input is evaluated once per value of that
    input and broadcast - not once per cell - and each cell's draws are contiguous for the
    reduction (:func:`bayesmoe.rowstats.row_mean_quantiles`).
    """
    params = {k: d[k].values.reshape((1,) * len(dims) + (-1,)) for k in d.data_vars}
    n_draws = next(iter(params.values())).shape[-1]
    axes = {}
    for k, v in x.items():
        own = [dim for dim in dims if dim in v.dims]
        axes[k] = v.transpose(*own).values.reshape(
            [shape[i] if dim in v.dims else 1 for i, dim in enumerate(dims)] + [1]
        )
    rest = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    step = max(1, max_elements // (n_draws * rest)) if shape else 1
    n_first = shape[0] if shape else 1
    # subexpressions free of the blocked (first) axis are computed once, not once per block
    blocked = {k for k, v in x.items() if shape and dims[0] in v.dims}
    tree, bindings = expr.hoist(law.loss_tree, blocked)
    env = {**law.constants, **params, **{k: v for k, v in axes.items() if k not in blocked}}
    env.update({name: expr.evaluate(sub, env) for name, sub in bindings.items()})
    mean = np.empty(int(np.prod(shape)) if shape else 1)
    qs = np.empty((len(quantiles), mean.size))

    def block(start: int) -> None:
        stop = min(start + step, n_first)
        values = expr.evaluate(tree, {**env, **{k: axes[k][start:stop] for k in blocked}})
        block_shape = (*((stop - start, *shape[1:]) if shape else ()), n_draws)
        fresh = np.shape(values) == block_shape  # a temporary of the block's own: partition it in place
        values = np.broadcast_to(values, block_shape).reshape(-1, n_draws)
        sl = slice(start * rest, stop * rest)
        mean[sl], qs[:, sl] = row_mean_quantiles(values, quantiles, overwrite_input=fresh, threads=1)

    starts = range(0, n_first, step)
    workers = min(len(starts), os.cpu_count() or 1)
    if workers > 1:  # NumPy releases the GIL: blocks are evaluated and reduced on all cores
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(block, starts))
    else:
        for start in starts:
            block(start)
    return mean, qs


def _jax_surface(
    law: Any,
    d: xr.Dataset,
    x: Mapping[str, xr.DataArray],
    template: xr.DataArray,
    dims: list[str],
    shape: tuple,
    quantiles: Any,
    max_elements: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The same reduction compiled by XLA over flattened cells, in chunks of one fixed size."""
    flat = {
        k: np.broadcast_to(xr.DataArray(v).broadcast_like(template).transpose(*dims).values, shape).reshape(-1)
        for k, v in x.items()
    }
    n_cells = int(np.prod(shape)) if shape else 1
    params = {k: d[k].values.reshape(-1, 1) for k in d.data_vars}
    n_draws = next(iter(params.values())).shape[0]
    chunk = max(1, max_elements // n_draws)
    mean = np.empty(n_cells)
    qs = np.empty((len(quantiles), n_cells))
    reduce = _jax_reducer(law, quantiles, n_draws)
    for start in range(0, n_cells, chunk):
        sl = slice(start, min(start + chunk, n_cells))
        # pad to one chunk size so XLA compiles once; padding repeats the last cell
        idx = np.minimum(np.arange(start, start + chunk), n_cells - 1)
        m, q = reduce(params, {k: v[idx][None, :] for k, v in flat.items()})
        mean[sl], qs[:, sl] = np.asarray(m)[: sl.stop - sl.start], np.asarray(q)[:, : sl.stop - sl.start]
    return mean, qs


def _jax_has_gpu() -> bool:
    try:
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:  # no JAX, or no usable backend: stay on NumPy
        return False


def _jax_reducer(law: Any, quantiles: tuple[float, ...], n_draws: int) -> Any:
    """A jitted (params, inputs) -> (mean, quantiles) over draws for one chunk of cells."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    ns = expr.jax_ns()
    q = jnp.asarray(quantiles)

    @jax.jit
    def reduce(params: Any, x: Any) -> Any:
        values = law.loss_fn(params, x, ns)
        values = jnp.broadcast_to(values, (n_draws, next(iter(x.values())).shape[1]))
        return values.mean(axis=0), jnp.quantile(values, q, axis=0)

    return reduce
