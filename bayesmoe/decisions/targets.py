"""Questions asked of plans: the near-optimal band of a budget, and the budget reaching a target loss."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from bayesmoe.decisions.mixture import require_single
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
    require_single(fit, "near_optimal_band")
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

    At each budget the decision (for ``risk``) is planned and P(loss of that decision <=
    target) is read off the posterior, model discrepancy included. That probability need not
    rise with the budget: beyond the training runs the discrepancy widens faster than the
    expected loss falls, so far enough out every target's probability drifts towards 1/2.
    Budgets are therefore scanned a decade at a time from ``lo`` to ``hi`` and the first one
    that reaches the target is refined by bisection in log C against the decade below it.
    """
    if not 0 < probability < 1:
        raise PlanError(f"probability must lie in (0, 1), got {probability}")
    if not 0 < lo < hi:
        raise PlanError(f"need 0 < lo < hi, got lo={lo!r}, hi={hi!r}")

    def reach(c: float) -> tuple[float, Plan]:
        p = plan(fit, c, risk=risk, group=group, **kwargs)
        return float(np.mean(p.decision_loss.values <= target_loss)), p

    ladder = np.geomspace(lo, hi, max(2, round(math.log10(hi / lo)) + 1))
    below, seen = None, []
    for c in ladder:
        p_c, best = reach(float(c))
        seen.append((p_c, float(c)))
        if p_c >= probability:
            break
        below = float(c)
    else:
        p_max, c_max = max(seen)
        raise PlanError(
            f"no budget from {lo:.3g} to {hi:.3g} FLOPs reaches loss {target_loss} with probability {probability:.0%}; "
            f"the best is {p_max:.2f} at {c_max:.3g} FLOPs. The target is at or below what the law allows, or so far "
            "beyond the training runs that the model discrepancy leaves it uncertain: aim for a higher loss or a "
            "lower probability, or add larger runs"
        )
    if below is None:
        return {"budget": lo, "probability": p_c, "note": f"already reached at the smallest budget searched ({lo:.3g})"}
    a, b, p_b = math.log(below), math.log(float(c)), p_c
    while b - a > 1e-3:
        mid = 0.5 * (a + b)
        p_mid, p_plan = reach(math.exp(mid))
        if p_mid >= probability:
            b, p_b, best = mid, p_mid, p_plan
        else:
            a = mid
    return {"budget": math.exp(b), "probability": p_b, "target_loss": target_loss, "plan": best}
