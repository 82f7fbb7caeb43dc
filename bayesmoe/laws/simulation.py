"""Seeded simulation of runs from any law in the catalogue. Output is labelled synthetic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.errors import RunsError
from bayesmoe.laws import observation
from bayesmoe.laws.catalogue import get_law
from bayesmoe.laws.law import Law
from bayesmoe.runs import Runs, load_runs

#: Shared-expert shares used in the Zhao-style design.
ZHAO_S_LEVELS = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.7)
ZHAO_G_LEVELS = (1, 2, 4, 6, 8, 12, 16, 20)


def zhao_design(n: int = 446, seed: int = 0) -> pd.DataFrame:
    """A design over the ranges of Zhao et al. 2025's 446 runs (laws.md, section 1).

    N log-uniform in 133M-3.4B, N_a log-uniform in [30M, min(N, 2.2B)], D log-uniform in
    10B-50B tokens, G from 1-20, S from 0-0.7.
    """
    rng = np.random.default_rng(seed)
    N = np.exp(rng.uniform(np.log(1.33e8), np.log(3.4e9), n))
    hi = np.minimum(N, 2.2e9)
    N_a = np.exp(rng.uniform(np.log(3e7), np.log(hi)))
    D = np.exp(rng.uniform(np.log(1e10), np.log(5e10), n))
    G = rng.choice(ZHAO_G_LEVELS, n).astype(float)
    S = rng.choice(ZHAO_S_LEVELS, n)
    return pd.DataFrame({"N": N, "N_a": N_a, "D": D, "G": G, "S": S})


def generic_design(law: str | Law, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """A random design covering every input of ``law`` with plausible MoE values.

    N_a log-uniform 1e7-1e9; N = N_a x (1.5-31, log-uniform); M = N_a x (6.5-17);
    D log-uniform 1e9-1e11; E from 1-64 with G <= E from 1-8; S in [0, 0.7];
    any extra input from its law file's ``design`` range (log-uniform), else from 1-8.
    """
    law = get_law(law)
    rng = np.random.default_rng(seed)
    N_a = np.exp(rng.uniform(np.log(1e7), np.log(1e9), n))
    cols = {
        "N_a": N_a,
        "N": N_a * np.exp(rng.uniform(np.log(1.5), np.log(31), n)),
        "M": N_a * rng.uniform(6.5, 17, n),
        "D": np.exp(rng.uniform(np.log(1e9), np.log(1e11), n)),
        "E": rng.choice([1, 2, 4, 8, 16, 32, 64], n).astype(float),
        "S": rng.uniform(0, 0.7, n),
    }
    cols["G"] = np.minimum(rng.choice([1, 2, 4, 8], n), cols["E"]).astype(float)
    cols["C"] = cols["M"] * cols["D"]
    for k, spec in law.spec.extra_inputs.items():
        if spec.design is not None:
            lo, hi = spec.design
            cols[k] = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    return pd.DataFrame({k: cols.get(k, rng.choice([1.0, 2.0, 4.0, 8.0], n)) for k in law.inputs})


def reference_params(law: str | Law) -> dict[str, float]:
    """Published values where the law has them, else each prior's median."""
    law = get_law(law)
    out = {k: p.typical() for k, p in law.priors.items()}
    for k, spec in law.spec.params.items():
        v = spec.published
        if isinstance(v, dict):
            v = next(iter(v.values()))
        if v is not None:
            out[k] = float(v)
    return out


def simulate(
    law: str | Law,
    design: pd.DataFrame,
    params: Mapping[str, float | Mapping[str, float]] | None = None,
    *,
    noise: float = 0.01,
    nu: float | None = None,
    seed: int = 0,
    group: str | None = None,
) -> Runs:
    """Draw runs from ``law`` at the ``design`` points under the observation model.

    ``params`` defaults to the law's published values. A parameter may be given per group
    as ``{level: value}``, with ``group`` naming the design column that holds the levels.
    ``noise`` is the scale ``sigma`` of log loss (0.01 = 1 % noise); with ``nu`` the errors
    are Student-t with ``nu`` degrees of freedom (:mod:`bayesmoe.laws.observation`).
    """
    law = get_law(law)
    if params is None:
        params = law.published()
    missing = [p for p in law.params if p not in params]
    if missing:
        raise RunsError(f"simulate: no value for parameter(s) {missing} of {law.name!r}")
    absent = [c for c in law.inputs if c not in design.columns]
    if absent:
        raise RunsError(f"simulate: design lacks input column(s) {absent} of {law.name!r}")
    rng = np.random.default_rng(seed)
    values: dict[str, Any] = {}
    for k in law.params:
        v = params[k]
        if isinstance(v, Mapping):
            if group is None or group not in design.columns:
                raise RunsError(f"simulate: {k} is given per group; pass group= naming a design column")
            levels = design[group].astype(str)
            unknown = set(levels) - set(map(str, v))
            if unknown:
                raise RunsError(f"simulate: no value of {k} for group(s) {sorted(unknown)}")
            values[k] = levels.map({str(a): float(b) for a, b in v.items()}).to_numpy()
        else:
            values[k] = float(v)
    x = {c: design[c].to_numpy(float) for c in law.inputs}
    mean = np.broadcast_to(law.loss_fn(values, x), len(design))
    if not np.all(np.isfinite(mean) & (mean > 0)):
        raise RunsError(f"simulate: {law.name!r} gives non-positive or non-finite loss on this design")
    df = design.copy()
    likelihood, params_noise = ("normal", {"sigma": noise}) if nu is None else ("studentt", {"sigma": noise, "nu": nu})
    df["loss"] = observation.draw_loss(mean, params_noise, likelihood, rng)
    df["source"] = "synthetic"
    runs = load_runs(df.reset_index(drop=True), synthetic=True)
    runs.source = f"synthetic: {law.name} (seed {seed}, noise {noise:g})"
    return runs
