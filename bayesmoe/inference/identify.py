"""Which parameters can a set of runs pin down? A local identifiability check before fitting.

The sensitivity matrix ``J[i, j] = d log L(x_i) / d phi_j`` (``phi`` = each parameter on its
unconstrained scale, columns scaled to unit length) is evaluated at one parameter point: the
law's published values where it has them, else the prior medians. A relative singular value
below :data:`bayesmoe.config.IDENTIFY_TOL` is a direction along which the runs barely move the
loss: only a combination of those parameters is learned, and the rest is left to the prior.
Typical causes: an input that does not vary across the runs (every run at one D makes
``b * D**-beta`` a constant, confounded with the irreducible loss), or a parameter whose
term vanishes there (``m * S**2`` with S = 0). NUTS then wanders along prior-wide ridges,
which shows up as divergences and high R-hat; fixing one parameter per direction
(``priors={"beta": "Fixed(0.47)"}``) or adding runs that vary the input removes it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesmoe.config import IDENTIFY_TOL
from bayesmoe.inference.reparam import level_param, linear_params
from bayesmoe.laws.catalogue import get_law
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.runs import Runs, load_runs

#: Relative spread (max/min - 1) below which an input counts as constant across the runs.
CONSTANT_SPREAD = 0.01
#: Root-mean-square sensitivity of log loss below which a parameter has no effect on the runs
#: (observation noise on log loss is 1e-3..1e-2).
NO_EFFECT = 1e-7


@dataclass
class WeakDirection:
    """A combination of parameters the runs barely constrain."""

    strength: float  # singular value relative to the largest
    weights: dict[str, float]  # parameter -> component of the unit direction (|w| >= 0.1)

    def __str__(self) -> str:
        return " & ".join(self.weights) + f" (relative sensitivity {self.strength:.1e})"


@dataclass
class Identifiability:
    """Result of :func:`identifiability`: weak directions and a minimal set to fix."""

    law: str
    point: dict[str, float]
    singular_values: np.ndarray  # relative, largest first
    weak: list[WeakDirection]
    suggest_fixed: list[str]
    constant_inputs: dict[str, float]
    point_source: str  # where the check looked: posterior medians, or published values / prior medians

    @property
    def ok(self) -> bool:
        return not self.weak

    def messages(self, *, cli: bool = False) -> list[str]:
        """The finding in words, with the fix written as Python (``priors={...}``) or, with
        ``cli``, as the command line's ``--prior`` options."""
        if self.ok:
            return []
        const = (
            " Inputs constant across the runs: "
            + ", ".join(f"{k} = {v:.4g}" for k, v in self.constant_inputs.items())
            + "."
            if self.constant_inputs
            else ""
        )
        dirs = "; ".join(str(w) for w in self.weak)
        if cli:
            fix = " ".join(f"--prior '{k}=Fixed({self.point[k]:.6g})'" for k in self.suggest_fixed)
        else:
            fix = "priors={" + ", ".join(f"'{k}': 'Fixed({self.point[k]:.6g})'" for k in self.suggest_fixed) + "}"
        return [
            f"The runs do not identify {len(self.weak)} combination(s) of {self.law}'s parameters: {dirs}; "
            f"along these the posterior is set by the priors, which also makes sampling hard.{const} "
            f"Fix: add runs that vary the inputs involved, or hold one parameter per combination at a known "
            f"value, e.g. {fix} (values shown: {self.point_source})."
        ]

    def __str__(self) -> str:
        return "\n".join(self.messages()) or f"The runs identify every parameter of {self.law} (locally)."

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(str(self))}</p>"


def _point(law: Law, pri: Mapping[str, Prior]) -> dict[str, float]:
    out = {}
    for k in law.params:
        pub = law.spec.params[k].published
        if pri[k].fixed:
            out[k] = pri[k].args[0]
        elif isinstance(pub, int | float) and pri[k].contains(float(pub)):
            out[k] = float(pub)
        else:
            out[k] = pri[k].typical()
    return out


def _sensitivity(
    law: Law, x: Mapping[str, np.ndarray], pri: Mapping[str, Prior], point: Mapping[str, float], names: list[str]
) -> np.ndarray:
    """d log L / d phi by central differences on the unconstrained scale (runs x names)."""
    z0 = np.array([float(pri[k].to_free(point[k])) for k in names])
    h = 1e-4 * np.maximum(1.0, np.abs(z0))

    def log_loss(z: np.ndarray) -> np.ndarray:
        p = dict(point) | {k: float(pri[k].from_free(z[j])) for j, k in enumerate(names)}
        with np.errstate(all="ignore"):
            return np.log(np.asarray(law.loss_fn(p, x), float))

    cols = []
    for j in range(len(names)):
        e = np.zeros_like(z0)
        e[j] = h[j]
        cols.append((log_loss(z0 + e) - log_loss(z0 - e)) / (2 * h[j]))
    return np.stack(cols, axis=1)


def identifiability(
    law: str | Law,
    runs: Runs | Any,
    priors: Mapping[str, Prior] | None = None,
    *,
    point: Mapping[str, float] | None = None,
    point_source: str = "posterior medians",
    tol: float = IDENTIFY_TOL,
) -> Identifiability:
    """Check which parameter combinations ``runs`` can identify (see the module docstring).

    ``priors`` are the priors the fit uses (default: the law's); ``Fixed`` ones are left out.
    ``point`` is where to look (after a fit: the posterior medians, which matter because a
    term the posterior makes negligible leaves its exponents free); default: the law's
    published values, else the prior medians.
    """
    law = get_law(law)
    runs = load_runs(runs)
    runs.require(law.inputs, f"law {law.name!r}", {k: law.input_bounds(k) for k in law.inputs})
    pri = dict(law.priors) | dict(priors or {})
    if point is None:
        point, point_source = _point(law, pri), "published values or prior medians"
    else:
        point = _point(law, pri) | {k: float(v) for k, v in point.items() if k in law.params}
    names = [k for k in law.params if not pri[k].fixed]
    x = runs.inputs(law.inputs)
    constant = {}
    for k, v in x.items():
        lo, hi = float(np.min(v)), float(np.max(v))
        if (lo > 0 and hi / lo - 1 < CONSTANT_SPREAD) or lo == hi:
            constant[k] = float(np.exp(np.mean(np.log(v)))) if lo > 0 and lo != hi else lo
    with np.errstate(all="ignore"):
        base = np.asarray(law.loss_fn(point, x), float)
    if not names or not np.all(np.isfinite(base) & (base > 0)):
        # nothing sampled, or the law is undefined at the check point: no local statement to make
        return Identifiability(law.name, point, np.array([]), [], [], constant, point_source)
    J = np.nan_to_num(_sensitivity(law, x, pri, point, names), nan=0.0, posinf=0.0, neginf=0.0)
    # a parameter that moves log loss by under NO_EFFECT per unit of its sampling scale at every
    # run (its term negligible here) has no effect; its column would otherwise be rounding noise
    J[:, np.sqrt(np.mean(J**2, axis=0)) < NO_EFFECT] = 0.0
    norms = np.linalg.norm(J, axis=0)
    Jn = J / np.where(norms > 0, norms, 1.0)
    # full_matrices: with fewer runs than parameters the null space is part of the answer
    _, s, vt = np.linalg.svd(Jn, full_matrices=True)
    s = np.concatenate([s, np.zeros(len(names) - len(s))])
    rel = s / s[0] if s[0] > 0 else np.zeros_like(s)
    weak = [
        WeakDirection(float(r), {names[j]: round(float(v[j]), 3) for j in np.argsort(-np.abs(v)) if abs(v[j]) >= 0.1})
        for r, v in zip(rel, vt, strict=True)
        if r < tol
    ]

    # prefactors, and more so the irreducible loss, are the last to hold
    level = level_param(law, pri)
    avoid = {k: 0.5 for k in linear_params(law)} | ({level[0]: 0.25} if level else {})
    return Identifiability(law.name, point, rel, weak, _suggest(Jn, names, tol, avoid), constant, point_source)


def _suggest(Jn: np.ndarray, names: list[str], tol: float, avoid: Mapping[str, float]) -> list[str]:
    """Greedy: hold the parameter that dominates the weakest direction until none is weak.

    Weights in ``avoid`` (< 1) demote prefactors and the irreducible loss, which absorb the
    level of a term whose input is constant (``b * D0**-beta``): holding the exponent leaves
    a well-shaped posterior, holding the prefactor leaves the exponent to carry the level.
    """
    keep = list(range(len(names)))
    penalty = np.array([avoid.get(k, 1.0) for k in names])
    fixed: list[str] = []
    while keep:
        _, s, vt = np.linalg.svd(Jn[:, keep], full_matrices=False)
        if s[0] == 0:
            fixed += [names[j] for j in keep]
            break
        if s[-1] / s[0] >= tol and len(s) == len(keep):
            break
        # near-ties (|weights| equal to 2 decimals, e.g. k and c in P*k + c) go to the earlier
        # parameter in the law's order, so the suggestion does not flip on rounding noise
        j = keep[int(np.argmax(np.round(np.abs(vt[-1]) * penalty[keep], 2)))]
        fixed.append(names[j])
        keep.remove(j)
    return fixed
