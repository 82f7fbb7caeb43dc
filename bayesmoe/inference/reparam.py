"""How the fitter samples a law's parameters without changing their priors.

Sampling parametrisation (the law file states priors in the paper's terms; this module
chooses how to sample them without changing the posterior):

* Reference-scale shear. For a parameter ``A`` the loss is linear in (``A * N**-alpha``,
  or Zhao's ``e`` inside ``P(G, S) * (...)``), we sample ``A``'s contribution at a reference
  point ``x0`` (the geometric mean of the runs): ``u = log A + log s(theta)`` with
  ``s = dL/dA`` at ``x0`` (the other linear parameters held at their prior medians, so ``s``
  depends only on the directly sampled ``theta``). The map ``(log A, theta) -> (u, theta)``
  is a shear with unit Jacobian and ``u``'s prior is ``log A``'s shifted by ``log s``, so
  the model is unchanged; but ``u`` is nearly uncorrelated with the exponents, which
  removes the A-alpha ridge. Normal priors are rescaled instead (``A * s`` is again normal).
  A signed prefactor whose term scales the same factor as positive ones (Zhao's ``n`` beside
  ``e``, ``f``, ``m`` in ``P(G, S)``) is rescaled by their contribution instead, so that it is
  sampled as its share of it: their common scale cancels (benchmarks/zhao_settings.py).
* Level shift. An additive parameter (``L = ... + eps``) is sampled, last, as a shift of its
  unconstrained coordinate by the rest of the loss at ``x0``, so that to first order the
  sampler sees the loss at ``x0`` - which the runs pin down - instead of ``eps``, which
  trades off against the slowest-decaying term (the eps-B-beta ridge when D spans a narrow
  range). Again a shift with unit Jacobian: the prior is unchanged.
* Groups. Pooled parameters get one value per group,
  ``theta_g = inv(fwd(theta) + tau * z_g)`` with ``fwd`` the log/logit map of the prior's
  support, ``z_g ~ Normal(0, 1)`` (non-centred) and ``tau ~ HalfNormal(GROUP_SCALE)``.
* Powers of data. ``x ** e`` with ``x`` a positive input and ``e`` fitted is evaluated as
  ``exp(e * log x)`` over precomputed ``log x`` (:func:`bayesmoe.inference.model.fitted_tree`):
  the same density, half the cost per gradient on zhao2025.
* Likelihood on log loss: :mod:`bayesmoe.laws.observation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bayesmoe.errors import BayesMoEError, FitError
from bayesmoe.laws import expr
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.runs.columns import CANONICAL, SIZE_COLUMNS
from bayesmoe.runs.table import Runs

#: prior families whose parameter can be rescaled exactly (log-scale shift or location-scale)
SCALABLE = ("LogNormal", "LogUniform", "Normal")
#: prior families of an additive parameter that can be sampled as the loss at the reference point
LEVELLED = ("Normal", "LogNormal", "Uniform")


def linear_params(law: Law) -> dict[str, Any]:
    """Parameters the loss is linear in (prefactors), each with its SymPy ``dL/dp``."""
    import sympy

    loss = expr.to_sympy(law.loss_tree)
    out: dict[str, Any] = {}
    for name in law.params:
        d = sympy.diff(loss, sympy.Symbol(name))
        if d != 0 and sympy.Symbol(name) not in d.free_symbols:
            out[name] = d
    return out


def shear_terms(law: Law, runs: Runs | None = None, priors: Mapping[str, Prior] | None = None) -> dict[str, expr.Node]:
    """Parameters to sample at the reference scale, each with its scale ``dL/dp``.

    A parameter ``p`` qualifies when the loss is linear in it, its prior is in
    :data:`SCALABLE`, and ``dL/dp`` - with the other such parameters held at their prior
    medians, so that it depends only on parameters sampled directly (the exponents) - is
    positive for every value of those and depends on at least one of them. The sampled
    quantity ``p * dL/dp(x0)`` is then p's contribution to the loss at the reference point
    ``x0``, nearly uncorrelated with the exponents (for ``A * N**-alpha`` it is
    ``A * N0**-alpha``; for the Zhao bracket it also covers e, f, m, n, k). ``priors`` are
    the priors the fit uses (default: the law's), whose families and supports decide.
    """
    import sympy

    pri = law.priors if priors is None else priors
    linear = {k: d for k, d in linear_params(law).items() if pri[k].family in SCALABLE}
    fixed = {sympy.Symbol(k): sympy.Float(pri[k].typical()) for k in linear}
    if runs is not None:  # the scale is only ever evaluated at the reference point
        ref = runs.reference([k for k in law.inputs if k in runs.df])
        fixed |= {sympy.Symbol(k): sympy.Float(v) for k, v in ref.items()}
        fixed |= {sympy.Symbol(k): sympy.Float(v) for k, v in law.constants.items()}
    positive = {k for k in law.inputs if k in SIZE_COLUMNS or (k in CANONICAL and CANONICAL[k].minimum > 0)}
    positive |= {k for k in law.params if pri[k].support == "positive"}
    positive |= {k for k in law.params if pri[k].support in ("interval", "point") and pri[k].bounds[0] >= 0}
    positive |= {k for k, v in law.constants.items() if v > 0}
    out: dict[str, expr.Node] = {}
    for name, d in linear.items():
        others = {k: v for k, v in fixed.items() if k.name != name}
        at_ref = d.subs(others)
        if not {s.name for s in at_ref.free_symbols} & (set(law.params) - set(linear)):
            continue  # its scale does not move with any sampled parameter: nothing to decorrelate
        try:
            node = expr.from_sympy(at_ref)
            # the scale keeps the inputs symbolic: the model evaluates it at the runs' reference
            # point from its data, so a compiled model serves other runs exactly
            kept = expr.from_sympy(d.subs({k: v for k, v in others.items() if k.name not in law.inputs}))
        except BayesMoEError:
            continue
        if expr.is_positive(node, positive):
            out[name] = kept
    # a signed prefactor whose dL/dp is a fixed multiple of positive siblings' (Zhao's n in
    # P = e G + f / G + m S^2 + n S) is sampled as its share of their contribution, n S / (e G +
    # f / G + m S^2) at x0: their common scale, which the runs pin loosely, cancels from it, where
    # at its own reference scale n had to move as the exponential of that scale
    at_inputs = {k: v for k, v in fixed.items() if k.name in law.inputs}
    for name in [k for k in out if pri[k].support == "real"]:
        ratios = {q: sympy.cancel(linear[q] / linear[name]) for q in out if pri[q].support == "positive"}
        group = {q: r for q, r in ratios.items() if not {str(v) for v in r.free_symbols} & set(law.params)}
        if not group:
            continue
        share = 1 / sum(sympy.Symbol(q) * r for q, r in group.items())
        try:
            node, kept = expr.from_sympy(share.subs(at_inputs)), expr.from_sympy(share)
        except BayesMoEError:
            continue
        if expr.is_positive(node, positive | set(group)):
            del out[name]
            out[name] = kept  # sampled after the siblings its scale reads
    return out


def level_param(law: Law, priors: Mapping[str, Prior] | None = None) -> tuple[str, float] | None:
    """The additive parameter (``L = ... + eps``) and its coefficient, if the loss has one
    and its prior (from ``priors``, default the law's) is in :data:`LEVELLED`."""
    import sympy

    pri = law.priors if priors is None else priors
    loss = expr.to_sympy(law.loss_tree)
    for name in law.params:
        d = sympy.diff(loss, sympy.Symbol(name))
        if d.is_Number and d != 0 and pri[name].family in LEVELLED:
            return name, float(d)
    return None


def resolve_priors(law: Law, priors: Mapping[str, str | Prior] | str | None) -> dict[str, Prior]:
    """The law's default priors with the caller's overrides (strings are parsed), or with
    those of the law file's prior set when ``priors`` is its name."""
    if isinstance(priors, str):
        priors = law.prior_set(priors)
    out = dict(law.priors)
    for k, v in (priors or {}).items():
        if k not in out:
            raise FitError(f"prior given for {k!r}, which is not a parameter of {law.name!r} ({law.params})")
        out[k] = v if isinstance(v, Prior) else Prior.parse(v, f"prior for {k!r}")
    return out
