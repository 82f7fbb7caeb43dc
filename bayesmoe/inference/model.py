"""The PyMC model of a law on runs (parametrisation: :mod:`bayesmoe.inference.reparam`;
likelihood: :mod:`bayesmoe.laws.observation`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bayesmoe.config import GROUP_SCALE
from bayesmoe.errors import FitError
from bayesmoe.inference.reparam import level_param, resolve_priors, shear_terms
from bayesmoe.laws import expr, observation
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.runs.columns import SIZE_COLUMNS
from bayesmoe.runs.table import Runs


def build_model(
    law: Law,
    runs: Runs,
    *,
    groups: str | None = None,
    pooled: Sequence[str] | None = None,
    priors: Mapping[str, str | Prior] | str | None = None,
    likelihood: str = observation.LIKELIHOOD,
    centred: bool = False,
) -> Any:
    """The PyMC model of ``law`` on ``runs``.

    Data live in shared containers (:func:`model_data`) so a compiled model can be reused on
    new runs, of any number. Pooled parameters get one value per level of ``groups``, on the
    unconstrained line ``free_g = free_pop + tau * z_g`` (non-centred, ``z_g ~ Normal(0, 1)``), or
    with ``centred`` ``free_g ~ Normal(free_pop, tau)``: the better geometry when each group's
    own runs pin its value (benchmarks/pooling.py), where the non-centred form leaves the
    population value and ``tau`` in a funnel.
    """
    import pymc as pm
    import pytensor.tensor as pt

    observation.check_likelihood(likelihood)
    runs.require(law.inputs, f"law {law.name!r}", {k: law.input_bounds(k) for k in law.inputs})
    n_free = len(law.params) + 1
    if len(runs) < n_free:
        raise FitError(
            f"{len(runs)} runs cannot constrain {law.name!r}: it has {len(law.params)} parameters plus the noise scale; give at least {n_free} runs"
        )
    if all(runs.df[k].nunique() == 1 for k in law.inputs if k in runs.df):
        raise FitError(
            f"every input of {law.name!r} ({', '.join(law.inputs)}) is constant across the runs: nothing to fit a scaling law to"
        )
    pri = resolve_priors(law, priors)
    coords: dict[str, Any] = {"run": np.arange(len(runs))}
    if groups is not None:
        coords["group"] = runs.group_codes(groups)[1]
        pooled_set = set(law.pooled if pooled is None else pooled)
        unknown = pooled_set - set(law.params)
        if unknown:
            raise FitError(f"pooled names {sorted(unknown)} are not parameters of {law.name!r} ({law.params})")
        held = sorted(k for k in pooled_set if pri[k].fixed)
        if held and pooled is not None:
            raise FitError(f"{held} are held at fixed values, so they cannot also vary by group; drop them from pooled")
        pooled_set -= set(held)  # a law's default pooling does not apply to a parameter the user fixed
    elif pooled or centred:
        what = "pooled parameters" if pooled else "centred pooling"
        raise FitError(f"{what} need a group column: pass groups='column'")
    else:
        pooled_set = set()
    shear = shear_terms(law, runs, pri)
    level = level_param(law, pri)
    level_name, level_coef = level if level is not None else (None, 1.0)
    ns = expr.pytensor_ns()
    with pm.Model(coords=coords) as model:
        # every per-run column is a row of one shared table, so the graph knows they share one
        # length: it then needs no run-time broadcast checks (whose order PyTensor's rewrites leave
        # to chance, which kept the compiled graph out of Numba's disk cache), and the compiled
        # model takes new runs of any number (refits in backtests, LFO and design reuse it)
        columns = run_columns(law, runs, groups)
        model.add_coord("run_column", list(columns))
        table = pm.Data(RUN_TABLE, _stack(columns), dims=("run_column", "run"))
        shared = {k: table[i] for i, k in enumerate(columns)}
        shared |= {f"ref_{k}": pm.Data(f"ref_{k}", v) for k, v in runs.reference(law.inputs).items()}
        x = {k: shared[f"x_{k}"] for k in law.inputs}
        ref = {k: shared[f"ref_{k}"] for k in law.inputs}
        codes = pt.cast(shared["group_idx"], "int64") if groups is not None else None
        pop: dict[str, Any] = {}
        for name in law.params:
            if name not in shear and name != level_name:
                pop[name] = pri[name].pymc(name)
        for name, scale in shear.items():
            log_f0 = pt.log(expr.evaluate(scale, {**law.constants, **pop, **ref}, ns))
            pop[name] = pri[name].pymc(name, shift=log_f0)
        if level_name is not None:  # sampled last: its offset is the rest of the loss at x0
            rest = law.loss_fn({**pop, level_name: 0.0}, ref, ns) / level_coef
            pop[level_name] = pri[level_name].pymc_level(level_name, rest)
        env: dict[str, Any] = dict(pop)
        for name in law.params:
            if name in pooled_set:
                tau = pm.HalfNormal(f"{name}_tau", sigma=GROUP_SCALE)
                if centred:
                    free = pm.Normal(f"{name}_free", pri[name].to_free(pop[name], pt), tau, dims="group")
                else:
                    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims="group")
                    free = pri[name].to_free(pop[name], pt) + tau * z
                per_group = pm.Deterministic(f"{name}_group", pri[name].from_free(free, pt), dims="group")
                env[name] = per_group[codes]
        tree, logged = fitted_tree(law)
        logx = {f"_log_{k}": shared[f"logx_{k}"] for k in logged}
        mu = expr.evaluate(tree, {**law.constants, **env, **x, **logx}, ns)
        observation.add_to_model(pt.log(mu), shared["y"], likelihood, dims="run")
    model.bayesmoe_pooled = sorted(pooled_set)  # type: ignore[attr-defined]
    model.bayesmoe_centred = bool(centred and pooled_set)  # type: ignore[attr-defined]
    model.bayesmoe_shear = sorted(shear) + ([f"{level_name}:level"] if level_name else [])  # type: ignore[attr-defined]
    return model


def compiled_key(law: Law, model: Any, priors: Mapping[str, Prior], likelihood: str) -> tuple:
    """What identifies the compiled graph of :func:`build_model` (in memory and on disk): the
    law, its priors, the structure, and the observation model with its noise priors - not the
    runs, which the compiled model takes in any number (its data containers)."""
    return (
        law.spec_hash,
        len(model.coords.get("group", ())),
        tuple(model.bayesmoe_pooled),
        model.bayesmoe_centred,
        tuple(model.bayesmoe_shear),
        likelihood,
        tuple(sorted((k, str(v)) for k, v in priors.items())),
        tuple((k, str(v)) for k, v in observation.noise_priors(likelihood).items()),
    )


def fitted_tree(law: Law) -> tuple[expr.Node, set[str]]:
    """The loss tree the model evaluates: each power of a positive input with a fitted exponent
    as ``exp(e * log x)`` over precomputed ``log x`` (:func:`bayesmoe.laws.expr.log_powers`),
    and the inputs so rewritten."""
    positive = {k for k in law.inputs if k in SIZE_COLUMNS or law.input_bounds(k)[0] > 0}
    return expr.log_powers(law.loss_tree, positive)


#: Name of the shared table of per-run columns (one row per column of :func:`run_columns`).
RUN_TABLE = "runs_table"


def run_columns(law: Law, runs: Runs, groups: str | None) -> dict[str, np.ndarray]:
    """The per-run columns the model reads, in the order of the rows of its run table."""
    data = {f"x_{k}": v for k, v in runs.inputs(law.inputs).items()}
    data |= {f"logx_{k}": np.log(data[f"x_{k}"]) for k in sorted(fitted_tree(law)[1])}
    data["y"] = np.log(runs.loss())
    if groups is not None:
        data["group_idx"] = runs.group_codes(groups)[0]  # exact as a float: group counts are small
    return data


def _stack(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The run table: one float row per column of :func:`run_columns`."""
    return np.stack([np.asarray(v, dtype=float) for v in columns.values()])


def model_data(law: Law, runs: Runs, groups: str | None) -> dict[str, np.ndarray]:
    """The values of the shared data containers of :func:`build_model` for ``runs``."""
    data = {RUN_TABLE: _stack(run_columns(law, runs, groups))}
    return data | {f"ref_{k}": np.asarray(v) for k, v in runs.reference(law.inputs).items()}


#: Prior draws tried by :func:`check_finite_at_runs`.
FINITE_CHECK_DRAWS = 64


def check_finite_at_runs(law: Law, runs: Runs, priors: Mapping[str, Prior]) -> None:
    """Refuse, before any compilation, a law whose loss is not a finite positive number at the
    runs for any of :data:`FINITE_CHECK_DRAWS` draws from its priors (NUTS could not start)."""
    runs.require(law.inputs, f"law {law.name!r}", {k: law.input_bounds(k) for k in law.inputs})
    rng = np.random.default_rng(0)
    params = {k: np.asarray(priors[k].sample(rng, (FINITE_CHECK_DRAWS, 1)), float) for k in law.params}
    x = {k: runs.df[k].to_numpy(float)[None, :] for k in law.inputs}
    with np.errstate(all="ignore"):
        value = np.broadcast_to(np.asarray(law.loss_fn(params, x), float), (FINITE_CHECK_DRAWS, len(runs)))
    ok = np.isfinite(value) & (value > 0)
    if not ok.all(axis=1).any():
        bad = np.flatnonzero(~ok.any(axis=0))
        where = f"at runs {', '.join(map(str, bad[:5].tolist()))}" + (" and more" if len(bad) > 5 else "")
        raise FitError(
            f"law {law.name!r} gives no finite positive loss at every run for any of {FINITE_CHECK_DRAWS} draws from "
            f"its priors ({where if len(bad) else 'no single draw works at all runs at once'}); check the formula, "
            "its constants and the priors' ranges"
        )
