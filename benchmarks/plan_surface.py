"""Decision-layer timings: one budget's 4,000-draw plan, and a 1e6-cell x 4,000-draw
quantile surface (time and peak memory, target < 2 GB).

Run: python benchmarks/plan_surface.py [--cells 1000000]; writes results/plan_surface.json.
Uses a hand-built 4,000-draw chinchilla posterior around the Besiroglu et al. values, a
one-point zhao2025 posterior at the published values (every draw alike) and a spread one
(each published value times 1 + 0.02 z, z standard normal: draws then differ in their
optimal G and S as well), so no sampling is timed here.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
import tracemalloc
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

import bayesmoe as bm
from bayesmoe.decisions import plan
from bayesmoe.decisions.prediction import surface_summary


def chinchilla_posterior(draws: int = 1000, chains: int = 4, seed: int = 0) -> bm.Fit:
    rng = np.random.default_rng(seed)
    mean = {"E": 1.8172, "A": 482.01, "alpha": 0.3478, "B": 2085.43, "beta": 0.3658}
    sd = {"E": 0.03, "A": 50.0, "alpha": 0.01, "B": 200.0, "beta": 0.01}
    post = xr.Dataset(
        {k: (("chain", "draw"), rng.normal(mean[k], sd[k], (chains, draws))) for k in mean}
        | {"sigma": (("chain", "draw"), np.full((chains, draws), 0.01))}
    )
    f = bm.Fit.from_params("chinchilla", mean)
    f.idata = az.InferenceData(posterior=post)
    return f


def zhao_spread(draws: int = 1000, chains: int = 4, seed: int = 0, rel_sd: float = 0.02) -> bm.Fit:
    pub = bm.get_law("zhao2025").published()
    rng = np.random.default_rng(seed)
    f = bm.Fit.from_params("zhao2025", pub)
    post = f.idata.posterior.isel(chain=[0] * chains, draw=[0] * draws)
    post = post.assign_coords(chain=range(chains), draw=range(draws))
    for k, v in pub.items():
        post[k] = (("chain", "draw"), v * (1 + rel_sd * rng.standard_normal((chains, draws))))
    f.idata = az.InferenceData(posterior=post)
    return f


def time_plan(fit: bm.Fit, repeats: int = 10) -> tuple[float, float]:
    """Best and median of ``repeats`` (after a warm-up): the machine is shared, so the
    minimum is the least noisy estimate of the plan's own cost."""
    plan(fit, 1e22, max_total_params=1e11)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan(fit, 1e22, max_total_params=1e11)
        times.append(time.perf_counter() - t0)
    return min(times), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1_000_000)
    args = ap.parse_args()
    f = chinchilla_posterior()
    out: dict = {"machine": platform.platform(), "cpus": __import__("os").cpu_count(), "draws": 4000}
    plan(f, 1e22)  # warm-up
    t0 = time.perf_counter()
    for _ in range(5):
        plan(f, 1e22)
    out["plan_chinchilla_4000_draws_s"] = (time.perf_counter() - t0) / 5
    zp = bm.Fit.from_params("zhao2025", bm.get_law("zhao2025").published())
    zp.idata = az.InferenceData(
        posterior=zp.idata.posterior.isel(chain=[0] * 4, draw=[0] * 1000).assign_coords(
            chain=range(4), draw=range(1000)
        )
    )
    for key, fit in (("plan_zhao2025", zp), ("plan_zhao2025_spread", zhao_spread())):
        out[f"{key}_4000_draws_s"], out[f"{key}_4000_draws_median_s"] = time_plan(fit)
    side = round(np.sqrt(args.cells))
    grid = {"N": np.geomspace(1e8, 1e12, side), "D": np.geomspace(1e9, 1e13, side)}
    tracemalloc.start()
    t0 = time.perf_counter()
    s = surface_summary(f, grid, quantiles=(0.05, 0.5, 0.95))
    out["surface_cells"] = side * side
    out["surface_s"] = time.perf_counter() - t0
    out["surface_peak_traced_MB"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    out["process_max_rss_MB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert np.isfinite(s["mean"].values).all()
    for k, v in out.items():
        print(f"{k:>32}: {v:.4g}" if isinstance(v, float) else f"{k:>32}: {v}")
    (Path(__file__).parent / "results" / "plan_surface.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
