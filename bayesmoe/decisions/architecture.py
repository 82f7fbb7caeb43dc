"""Wan et al. 2026's architecture layer: FLOPs/parameter accounting, the triad (M, N_a, N),
a mapper from a triad plus hidden size d to a whole architecture, and power laws of
per-budget optima against compute, each carried through the posterior.

Accounting (embeddings excluded, SwiGLU FFNs; laws.md section 2):
    N_a = 2 d d_qkv (N_q + N_kv) L + 3 d d_d L_d + 3 d d_m (K + 1) L_m
    N   = N_a + 3 d d_m (N_e - K) L_m
    M   = 6 N_a + 6 S N_q d_qkv L          (S = context length), C = M D
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from bayesmoe.errors import PlanError
from bayesmoe.runs.compute import flops_per_token


@dataclass(frozen=True)
class Backbone:
    """The fixed part of Wan et al.'s design: 1 shared + N_e routed experts, K active."""

    n_experts: int = 288
    k_active: int = 8
    context: int = 8192
    d_qkv: int = 64
    n_q: int = 4
    n_kv: int = 2
    dense_ffn_ratio: float = 3.0  # d_d = 3 d

    @classmethod
    def for_budget(cls, budget: float) -> Backbone:
        """Attention shape Wan et al. used at a budget (their Table: d_qkv and N_q/N_kv)."""
        if budget < 2e18:
            return cls(d_qkv=64, n_q=4, n_kv=2)
        if budget < 2e19:
            return cls(d_qkv=64, n_q=8, n_kv=4)
        if budget < 2e20:
            return cls(d_qkv=128, n_q=8, n_kv=4)
        return cls(d_qkv=128, n_q=16, n_kv=8)


@dataclass(frozen=True)
class Architecture:
    d: int
    L_d: int
    L_m: int
    d_m: int
    d_d: int
    backbone: Backbone

    @property
    def L(self) -> int:
        return self.L_d + self.L_m

    @property
    def heads(self) -> tuple[int, int]:
        return self.backbone.n_q, self.backbone.n_kv

    def triad(self) -> dict[str, float]:
        return accounting(self.d, self.L_d, self.d_d, self.L_m, self.d_m, self.backbone)

    def to_dict(self) -> dict[str, Any]:
        return {
            "d": self.d,
            "L": self.L,
            "L_d": self.L_d,
            "L_m": self.L_m,
            "d_m": self.d_m,
            "d_d": self.d_d,
            "d_qkv": self.backbone.d_qkv,
            "N_q": self.backbone.n_q,
            "N_kv": self.backbone.n_kv,
            **self.triad(),
        }


def attention_flops_per_token(L: float, bb: Backbone) -> float:
    """Attention-score FLOPs per training token over ``L`` layers (Wan et al. 2026: 6 * context * N_q * d_qkv per layer)."""
    return 6 * bb.context * bb.n_q * bb.d_qkv * L


def accounting(d: float, L_d: float, d_d: float, L_m: float, d_m: float, bb: Backbone = Backbone()) -> dict[str, float]:
    """Activated parameters N_a, total parameters N and training FLOPs per token M."""
    L = L_d + L_m
    attn = 2 * d * bb.d_qkv * (bb.n_q + bb.n_kv) * L
    n_a = attn + 3 * d * d_d * L_d + 3 * d * d_m * (bb.k_active + 1) * L_m
    n = n_a + 3 * d * d_m * (bb.n_experts - bb.k_active) * L_m
    m = flops_per_token(n_a, attention_flops_per_token(L, bb))
    return {"N_a": float(n_a), "N": float(n), "M": float(m), "M_over_N_a": float(m / n_a), "N_over_N_a": float(n / n_a)}


def map_architecture(
    M: float,
    N_a: float,
    N: float,
    d: int,
    backbone: Backbone | None = None,
    *,
    multiple: int = 16,
    tolerance: float = 0.05,
) -> Architecture:
    """The architecture with hidden size ``d`` whose triad is closest to (M, N_a, N).

    Depth L follows from M - 6 N_a (attention FLOPs), the expert width d_m (a multiple of
    ``multiple``) from N - N_a, and the split L_d / L_m from N_a. Raises PlanError when no
    architecture meets every element of the triad within ``tolerance`` (relative).
    """
    bb = backbone or Backbone()
    for name, v in (("M", M), ("N_a", N_a), ("N", N), ("d", d)):
        if not (isinstance(v, int | float | np.number) and math.isfinite(v) and v > 0):
            raise PlanError(f"{name} must be a positive number, got {v!r}")
    if not M > flops_per_token(N_a):
        raise PlanError(f"M must exceed 6 N_a (attention FLOPs are positive): M/N_a = {M / N_a:.3g}")
    if not N >= N_a:
        raise PlanError(f"N must be at least N_a, got N/N_a = {N / N_a:.3g}")
    if d % 8:
        raise PlanError(f"hidden size d must be a multiple of 8, got {d}")
    d_d = round(bb.dense_ffn_ratio * d / multiple) * multiple
    L_est = (M - flops_per_token(N_a)) / attention_flops_per_token(1, bb)
    best: tuple[float, Architecture] | None = None
    for L in range(max(1, int(L_est) - 2), int(L_est) + 3):
        for L_m in range(1, L + 1):
            width = (N - N_a) / (3 * d * (bb.n_experts - bb.k_active) * L_m)
            for d_m in {
                max(multiple, int(width // multiple) * multiple),
                max(multiple, int(-(-width // multiple)) * multiple),
            }:
                arch = Architecture(d, L - L_m, L_m, d_m, d_d, bb)
                t = arch.triad()
                err = max(abs(t["M"] / M - 1), abs(t["N_a"] / N_a - 1), abs(t["N"] / N - 1))
                if best is None or err < best[0]:
                    best = (err, arch)
    if best is None or best[0] > tolerance:
        err = "no candidate" if best is None else f"best relative error {best[0]:.1%}"
        raise PlanError(f"no architecture with d={d} meets the triad within {tolerance:.0%} ({err}); try another d")
    return best[1]


def feasible_hidden_sizes(
    M: float,
    N_a: float,
    N: float,
    backbone: Backbone | None = None,
    *,
    tolerance: float = 0.05,
    step: int = 32,
    d_range: tuple[int, int] = (64, 16384),
) -> list[int]:
    """Hidden sizes (multiples of ``step``) for which :func:`map_architecture` meets the triad."""
    out = []
    for d in range(d_range[0], d_range[1] + 1, step):
        try:
            map_architecture(M, N_a, N, d, backbone, tolerance=tolerance)
        except PlanError:
            continue
        out.append(d)
    return out


def architecture_for(
    M: float, N_a: float, N: float, d: int | None = None, budget: float | None = None, *, tolerance: float = 0.05
) -> Architecture:
    """Map a triad to an architecture; without ``d``, use the median feasible hidden size
    (Wan et al.'s proxy, which they found to track the true optimum closely)."""
    bb = Backbone.for_budget(budget) if budget is not None else Backbone()
    if d is None:
        ds = feasible_hidden_sizes(M, N_a, N, bb, tolerance=tolerance)
        if not ds:
            raise PlanError(f"no hidden size gives an architecture within {tolerance:.0%} of the triad")
        d = ds[len(ds) // 2]
    return map_architecture(M, N_a, N, d, bb, tolerance=tolerance)


def optimum_power_law(values: xr.DataArray, budgets: Mapping[str, float], dim: str = "group") -> xr.Dataset:
    """Fit log(value) = log(k) + p log(C) across budgets in every draw.

    ``values`` holds a per-budget optimum per draw (dims chain, draw, ``dim``), e.g.
    ``fit.idata.posterior`` derived x_star of a wan2026 law fitted with groups = budget;
    ``budgets`` maps each level of ``dim`` to its FLOPs. Returns the coefficient ``k`` and
    exponent ``p`` per draw, so the power law itself carries an interval.
    """
    levels = [str(v) for v in values[dim].values]
    missing = [lv for lv in levels if lv not in budgets]
    if missing:
        raise PlanError(f"no budget given for level(s) {missing}")
    if len(levels) < 2:
        raise PlanError("a power law in C needs optima at two or more budgets")
    x = np.log(np.array([budgets[lv] for lv in levels], float))
    y = np.log(values.transpose(..., dim).values)
    xc = x - x.mean()
    p = (y - y.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    logk = y.mean(axis=-1) - p * x.mean()
    dims = [d for d in values.dims if d != dim]
    coords = {d: values[d] for d in dims}
    return xr.Dataset({"p": (dims, p), "k": (dims, np.exp(logk))}, coords=coords, attrs={"form": "value = k * C**p"})


__all__ = [
    "Architecture",
    "Backbone",
    "accounting",
    "architecture_for",
    "feasible_hidden_sizes",
    "map_architecture",
    "optimum_power_law",
]
