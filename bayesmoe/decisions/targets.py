"""Questions asked of plans: the near-optimal band of a budget, and the budget reaching a target loss."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bayesmoe.decisions.planning import Plan, param_arrays, plan
from bayesmoe.decisions.search import NEAR_OPTIMAL, problem_loss
from bayesmoe.errors import PlanError


def near_optimal_band(
    fit: Any,
    budget: float,
    grid: Mapping[str, Sequence[float]],
    *,
    tolerance: float = NEAR_OPTIMAL,
    group: str | None = None,
    **kwargs: Any,
) -> xr.DataArray:
    """P(loss(x) <= (1 + tolerance) * that draw's optimum) for each configuration of a grid.

    ``grid`` gives the size coordinates (``N_a`` or ``N``, and also ``N`` where the law
    has both) and, optionally, discrete inputs; D follows from the budget.
    """
    p = plan(fit, budget, group=group, **kwargs)
    problem = p.problem
    assert problem is not None
    params, n, _ = param_arrays(fit, group)
    names = list(grid)
    need = problem.continuous
    missing = [c for c in need if c not in names]
    if missing:
        raise PlanError(f"near_optimal_band needs grid coordinates {need}; missing {missing}")
    cells = np.array(list(itertools.product(*[np.asarray(grid[k], float) for k in names])))
    z = np.stack([np.log(cells[:, names.index(c)]) for c in need], axis=-1)
    disc = {k: cells[:, names.index(k)][None, :] if k in names else p.decision[k] for k in problem.discrete}
    pp = {k: v.reshape(n, 1) for k, v in params.items()}
    loss = problem_loss(problem, pp, np.broadcast_to(z, (n, *z.shape)), disc)
    best = p.optimum["loss"].values.reshape(n, 1)
    prob = np.mean(loss <= best * (1 + tolerance), axis=0)
    out = xr.DataArray(
        prob.reshape([len(grid[k]) for k in names]), dims=names, coords={k: np.asarray(grid[k], float) for k in names}
    )
    out.name = "p_near_optimal"
    out.attrs.update(
        tolerance=tolerance, budget_flops=budget, description=f"P(loss within {tolerance:.2%} of the draw's optimum)"
    )
    return out


def budget_for_target(
    fit: Any,
    target_loss: float,
    *,
    probability: float = 0.9,
    risk: str = "mean",
    lo: float = 1e15,
    hi: float = 1e28,
    group: str | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """The smallest budget whose planned decision reaches ``target_loss`` with ``probability``.

    Bisection in log C: at each budget the decision (for ``risk``) is planned, and
    P(loss of that decision <= target) is read off the posterior.
    """
    if not 0 < probability < 1:
        raise PlanError(f"probability must lie in (0, 1), got {probability}")

    def reach(c: float) -> tuple[float, Plan]:
        p = plan(fit, c, risk=risk, group=group, **kwargs)
        return float(np.mean(p.decision_loss.values <= target_loss)), p

    p_hi, best = reach(hi)
    if p_hi < probability:
        raise PlanError(
            f"even {hi:.3g} FLOPs reach loss {target_loss} with probability below {probability:.0%} "
            f"({p_hi:.2f}): the target is at or below what the law allows"
        )
    p_lo, _ = reach(lo)
    if p_lo >= probability:
        return {
            "budget": lo,
            "probability": p_lo,
            "note": f"already reached at the smallest budget searched ({lo:.3g})",
        }
    a, b = math.log(lo), math.log(hi)
    p_b = p_hi
    for _ in range(40):
        mid = 0.5 * (a + b)
        p_mid, p_plan = reach(math.exp(mid))
        if p_mid >= probability:
            b, p_b, best = mid, p_mid, p_plan
        else:
            a = mid
        if b - a < 1e-3:
            break
    return {"budget": math.exp(b), "probability": p_b, "target_loss": target_loss, "plan": best}
