"""A concrete transformer for a plan's decision: hidden size, layers, heads, experts, top-k.

Laws decide in counts (N, N_a, G, S, E); a training run needs a layout. The mapping here is a
documented convention, not part of any law, and reports how closely the rounded layout meets
the decision. Accounting (embeddings excluded, SwiGLU FFNs, multi-head attention with
``n_heads * head_dim = d``), per layer:

    attention  4 d^2              expert (or dense FFN)  3 d d_e
    N_a = L (4 d^2 + 3 d d_e k)   with k = top_k + n_shared experts active per token
    N   = N_a + L 3 d d_e (n_experts - top_k)
    M   = 6 N_a + 6 context d L   (FLOPs per training token; attention scores as in Wan et al. 2026)

Shape: the active FFN width k d_e is (8/3) d, the width of a dense SwiGLU block, so
N_a ~ 12 L d^2; the aspect ratio d / L (default 128, as in 7B-70B dense models) then fixes d
and L. Zhao et al.'s G is the number of activated experts per token and S the shared share
among them (n_shared = round(S G)); other laws' E is the number of routed experts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bayesmoe.errors import PlanError
from bayesmoe.runs.compute import flops_per_token


@dataclass(frozen=True)
class Layout:
    """A transformer layout and the assumptions behind it."""

    d_model: int
    n_layers: int
    n_heads: int
    head_dim: int
    expert_width: int  # d_e: SwiGLU hidden width of one expert (of the dense FFN when n_experts == 0)
    n_experts: int  # routed experts per MoE layer (0: dense)
    top_k: int  # routed experts per token
    n_shared: int  # always-active shared experts
    context: int

    def counts(self) -> dict[str, float]:
        """Activated and total parameters and training FLOPs per token of this layout."""
        d, L, de = self.d_model, self.n_layers, self.expert_width
        active = self.top_k + self.n_shared if self.n_experts else 1
        n_a = L * (4 * d * d + 3 * d * de * active)
        n = n_a + L * 3 * d * de * max(self.n_experts - self.top_k, 0)
        m = flops_per_token(n_a, 6 * self.context * d * L)
        return {"N_a": float(n_a), "N": float(n), "M": float(m)}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), **self.counts()}


def layout_for(
    decision: Mapping[str, float],
    *,
    aspect: float = 128.0,
    head_dim: int = 128,
    context: int = 4096,
    width_multiple: int = 16,
) -> Layout:
    """The layout closest to a decision's parameter counts (see the module docstring).

    Reads ``N_a`` (or ``N`` for dense laws), ``N``, and when present ``G`` and ``S`` (Zhao et
    al.) or ``E`` (routed experts). Searches hidden sizes (multiples of ``head_dim``) and layer
    counts near the aspect-ratio solution for the smallest largest relative error in N_a and N.
    """
    if "N_a" not in decision and ("E" in decision or "G" in decision):
        raise PlanError(
            "the decision gives experts but no activated parameter count N_a (e.g. a law in total N, E and G): "
            "the split of N between attention and experts is not determined, so no layout is mapped"
        )
    n_a = float(decision.get("N_a", decision.get("N", math.nan)))
    n = float(decision.get("N", n_a))
    if not (math.isfinite(n_a) and n_a > 0 and math.isfinite(n) and n >= n_a * (1 - 1e-9)):
        raise PlanError(f"cannot lay out a model with N_a={n_a!r}, N={n!r}: need 0 < N_a <= N")
    moe = n > n_a * (1 + 1e-6) or "G" in decision or "E" in decision
    k_active = max(1, round(decision.get("G", 1))) if moe else 1
    n_shared = min(k_active, round(decision.get("S", 0.0) * k_active)) if moe else 0
    top_k = k_active - n_shared
    if moe and top_k == 0 and n > n_a * (1 + 1e-6):
        raise PlanError("every activated expert is shared (S = 1), so total parameters cannot exceed activated ones")
    d0 = (aspect * n_a / 12) ** (1 / 3)
    best: tuple[float, Layout] | None = None
    for d in {max(head_dim, round(d0 / head_dim + j) * head_dim) for j in (-1, 0, 1)}:
        l0 = n_a / (12 * d * d)
        for L in range(max(1, math.floor(l0) - 1), math.ceil(l0) + 2):
            width = (n_a / L - 4 * d * d) / (3 * d * k_active)
            if width < width_multiple / 2:
                continue
            de = max(width_multiple, round(width / width_multiple) * width_multiple)
            if not moe:
                experts = 0
            elif "E" in decision:
                experts = max(top_k, round(decision["E"]))
            else:
                experts = top_k + round((n - n_a) / (3 * d * de * L))
            lay = Layout(d, L, d // head_dim, head_dim, de, experts, top_k if moe else 0, n_shared, context)
            c = lay.counts()
            err = max(abs(c["N_a"] / n_a - 1), abs(c["N"] / n - 1) if "E" not in decision else 0.0)
            if best is None or err < best[0]:
                best = (err, lay)
    if best is None:
        raise PlanError(f"no layout with head_dim {head_dim} fits N_a={n_a:.3g}: the model is smaller than one layer")
    return best[1]


def layout_report(decision: Mapping[str, float], budget: float, counted_attention: float, **kw: Any) -> dict[str, Any]:
    """The layout of a plan's decision with its counts, their errors against the decision,
    and the tokens the budget buys once its attention FLOPs are counted."""
    lay = layout_for(decision, **kw)
    c = lay.counts()
    n_a = decision.get("N_a", decision.get("N"))
    out: dict[str, Any] = lay.to_dict()
    out["relative_error"] = {k: c[k] / decision[k] - 1 for k in ("N_a", "N") if k in decision}
    out["D_at_budget"] = budget / c["M"]
    if counted_attention == 0:
        out["note"] = (
            f"the plan counted 6 N_a FLOPs per token (no attention); this layout's attention adds "
            f"{c['M'] / (6 * n_a) - 1:.1%}, so the budget trains {budget / c['M']:.3g} tokens, not {decision['D']:.3g}"
        )
    out["convention"] = (
        "SwiGLU experts, multi-head attention (n_heads * head_dim = d), active FFN width (8/3) d, "
        f"aspect d/L near {kw.get('aspect', 128.0):g}; embeddings excluded"
    )
    return out


def layout_line(report: Mapping[str, Any]) -> str:
    """One line for a :func:`layout_report` (or the reason there is none)."""
    if "error" in report:
        return f"none ({report['error']})"
    r = report
    moe = (
        f", {r['n_experts']} routed experts of width {r['expert_width']} (top-{r['top_k']}) + {r['n_shared']} shared"
        if r["n_experts"]
        else f", FFN width {r['expert_width']}"
    )
    note = f"; {r['note']}" if "note" in r else ""
    return f"d={r['d_model']}, {r['n_layers']} layers, {r['n_heads']} heads{moe} (N_a {r['N_a']:.3g}, N {r['N']:.3g}){note}"


__all__ = ["Layout", "layout_for", "layout_line", "layout_report"]
