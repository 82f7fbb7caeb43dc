"""A digamma that PyTensor's Numba backend can cache.

The gradient of a Student-t log density in its degrees of freedom holds digamma (PyTensor's
``Psi``), which PyTensor's Numba backend calls through a pointer into SciPy's Cython module.
Numba cannot cache a function that calls a pointer, so the whole log density of a Student-t fit
went uncached and every new process compiled it again (11.7 s for Chinchilla, against 1.6 s for
a Normal fit). Registered here, ``Psi`` compiles to the plain Numba function below, which caches;
for positive arguments it agrees with ``scipy.special.psi`` to 5e-14 relative, 1e-13 beside its
root at 1.46 (``tests/test_nutpie_cache.py``).
"""

from __future__ import annotations

import functools
import math

import numba

#: Bernoulli-number coefficients of the asymptotic series
#: psi(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x^2k) (Abramowitz & Stegun 6.3.18), k = 8 down to 1
#: (the order Horner's rule takes them).
_SERIES_HIGH_FIRST = (
    -3617.0 / 8160,
    1.0 / 12,
    -691.0 / 32760,
    1.0 / 132,
    -1.0 / 240,
    1.0 / 252,
    -1.0 / 120,
    1.0 / 12,
)
#: Below this the recurrence psi(x) = psi(x + 1) - 1/x shifts x up; at 10 the series' first
#: omitted term is below 1e-17.
_SHIFT_TO = 10.0


@numba.njit(cache=True)
def _positive(x: float) -> float:
    acc = 0.0
    while x < _SHIFT_TO:
        acc -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = 0.0
    for c in _SERIES_HIGH_FIRST:
        series = series * inv2 + c
    return acc + math.log(x) - 0.5 / x - series * inv2


@numba.njit(cache=True)
def digamma(x: float) -> float:
    """psi(x) for a float, as ``scipy.special.psi``: -inf at +0, +inf at -0, nan at the other
    non-positive integers and at -inf."""
    if math.isnan(x) or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    if x == 0.0:
        return -math.inf if math.copysign(1.0, x) > 0 else math.inf
    if x < 0.0:
        if x == math.floor(x):
            return math.nan
        # reflection (A&S 6.3.7): psi(1 - x) - psi(x) = pi / tan(pi x)
        return _positive(1.0 - x) - math.pi / math.tan(math.pi * x)
    return _positive(x)


@functools.cache  # once per process
def register() -> None:
    """Make PyTensor's Numba backend compile ``Psi`` to :func:`digamma`, with a cache key."""
    from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
    from pytensor.link.numba.dispatch.scalar import scalar_op_cache_key
    from pytensor.scalar.math import Psi

    @register_funcify_and_cache_key(Psi)
    def _funcify_psi(op, node, **kwargs):
        return digamma, scalar_op_cache_key(op, cache_version="bayesmoe-digamma-1")
