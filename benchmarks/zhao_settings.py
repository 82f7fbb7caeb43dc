"""Which sampler settings give a converged zhao2025 posterior, and at what cost (issue 16).

The bar: R-hat <= 1.01, no divergence, bulk and tail ESS >= 400. On the 446 simulated runs
of ``benchmarks/run.py`` (truth of ``recovery.py``, 1 % noise), every setting of the grid is
fitted with seeds 0-23 through ``bm.fit`` (4 chains, the compiled model reused, so the
wall time is sampling alone) and counted: how many seeds meet the bar, and the median wall
time. The law file's ``[sampling]`` hints are the cheapest row that meets it on most seeds.

The geometry behind the settings is measured too: the mean number of leapfrog steps per
draw and the step size, and where the divergent transitions lie (the mean percentile, among
all draws, of each parameter at the divergent ones).

Run: python benchmarks/zhao_settings.py [--seeds 24] [--likelihood normal|studentt] [--only-hints | --setting TA,TUNE,DRAWS]
[--out results/zhao_settings.json]. The committed ``zhao_settings.json`` was run with Normal noise
(the default until 2026-12-07); ``zhao_settings_studentt.json`` checks the hints under Student-t.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import bayesmoe as bm
from bayesmoe.config import R_HAT_MAX
from bayesmoe.files import atomic_path
from bayesmoe.laws import observation
from bayesmoe.laws.simulation import zhao_design

sys.path.insert(0, str(Path(__file__).parent))
from recovery import ZHAO_TRUTH

OUT = Path(__file__).parent / "results" / "zhao_settings.json"
#: (target_accept, tune, draws per chain)
GRID = [
    (0.99, 600, 1500),
    (0.99, 800, 1500),
    (0.99, 1000, 1500),
    (0.99, 2000, 1000),
    (0.99, 1000, 2000),
    (0.99, 2000, 2000),
    (0.995, 2000, 1000),
    (0.995, 2000, 2000),
]
BAR = {"r_hat": R_HAT_MAX, "ess": 400}  # the issue's bar: the project's R-hat limit, ESS over all chains


def one_fit(
    runs: bm.Runs, target_accept: float, tune: int, draws: int, seed: int, likelihood: str
) -> tuple[bm.Fit, dict]:
    t0 = time.perf_counter()
    fit = bm.fit(
        "zhao2025",
        runs,
        chains=4,
        target_accept=target_accept,
        tune=tune,
        draws=draws,
        seed=seed,
        likelihood=likelihood,
        progressbar=False,
        warn=False,  # recorded below instead
    )
    wall = time.perf_counter() - t0
    d = fit.diagnostics()
    stats = fit.idata.sample_stats
    row = {
        "seed": seed,
        "wall_s": round(wall, 2),
        "max_r_hat": round(d.max_r_hat, 4),
        "divergences": d.divergences,
        "min_ess_bulk": round(d.min_ess_bulk),
        "min_ess_tail": round(d.min_ess_tail),
        "steps_per_draw": round(float(stats["n_steps"].mean()), 1),
        "step_size": round(float(stats["step_size"].mean()), 4),
    }
    row["converged"] = bool(
        row["max_r_hat"] <= BAR["r_hat"]
        and row["divergences"] == 0
        and min(d.min_ess_bulk, d.min_ess_tail) >= BAR["ess"]
    )
    return fit, row


def where_divergent(fit: bm.Fit) -> dict[str, float]:
    """Mean percentile, among all draws, of each parameter at the divergent draws."""
    post = fit.idata.posterior
    div = fit.idata.sample_stats["diverging"].values.ravel().astype(bool)
    if not div.any():
        return {}
    out = {}
    for k in fit.law.params:
        x = post[k].values.ravel()
        rank = (np.argsort(np.argsort(x)) + 0.5) / x.size
        out[k] = round(float(rank[div].mean()), 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--likelihood", default=observation.LIKELIHOOD, choices=observation.LIKELIHOODS)
    ap.add_argument("--only-hints", action="store_true", help="fit the law file's hints only")
    ap.add_argument("--setting", help="fit only this setting, as target_accept,tune,draws (e.g. 0.995,2000,2000)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    hints = bm.get_law("zhao2025").spec.sampling
    grid = [(hints.target_accept, hints.tune, hints.draws)] if args.only_hints else GRID
    if args.setting:
        ta, tune, draws = args.setting.split(",")
        grid = [(float(ta), int(tune), int(draws))]
    runs = bm.simulate("zhao2025", zhao_design(446, seed=0), ZHAO_TRUTH, noise=0.01, seed=1)
    t0 = time.perf_counter()
    bm.fit(
        "zhao2025", runs, chains=2, tune=20, draws=20, likelihood=args.likelihood, progressbar=False, warn=False
    )  # compile once
    out: dict = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "runs": len(runs),
        "likelihood": args.likelihood,
        "bar": BAR,
        "law_hints": bm.get_law("zhao2025").spec.sampling.model_dump(),
        "compile_s": round(time.perf_counter() - t0, 1),
        "settings": {},
        "divergent_at": {},
    }
    for ta, tune, draws in grid:
        key = f"target_accept={ta} tune={tune} draws={draws}"
        rows = []
        for seed in range(args.seeds):
            fit, row = one_fit(runs, ta, tune, draws, seed, args.likelihood)
            rows.append(row)
            print(key, row, flush=True)
            spots = where_divergent(fit)
            if spots:
                out["divergent_at"].setdefault(key, []).append({"seed": seed, **spots})
        out["settings"][key] = {
            "converged_seeds": sum(r["converged"] for r in rows),
            "of": len(rows),
            "median_wall_s": float(np.median([r["wall_s"] for r in rows])),
            "runs": rows,
        }
    print("\nsetting                                      converged  median wall")
    for key, s in out["settings"].items():
        print(f"{key:45s} {s['converged_seeds']}/{s['of']}      {s['median_wall_s']:.1f} s")
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
