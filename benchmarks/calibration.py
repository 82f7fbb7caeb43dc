"""SBC sweeps for chinchilla and zhao2025 on Dask (issue: comparison, 'done when').

Priors here are the calibration priors (used for both simulating and fitting, as SBC
requires); they are narrower than the catalogue defaults so every prior draw gives
plausible losses. Run: python benchmarks/calibration.py [--sims 200] [--seed 0 --seed 1] [--law chinchilla]
[--likelihood normal] [--draws 500] [--tune N] [--chains 2]
Each seed is an independent set of simulated data sets; the summary reports each seed and
all together. Per-simulation results (resumable, not committed) in benchmarks/cache/sbc-<law>-seed<seed>/, summary in
results/calibration.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import bayesmoe as bm
from bayesmoe.criticism.calibration import Calibration, calibrate
from bayesmoe.files import atomic_path
from bayesmoe.laws import observation
from bayesmoe.laws.simulation import generic_design, zhao_design

#: bins of the true noise sd (of log loss) for coverage by noise level; the prior is HalfNormal(0.05)
SIGMA_EDGES = (0.0, 0.003, 0.01, 0.03, 0.06, 1.0)

SETUPS = {
    "chinchilla": {
        "design": lambda: generic_design("chinchilla", 60, seed=11),
        "priors": {
            "E": "Uniform(1.5, 2.5)",
            "A": "LogNormal(6.0, 0.5)",
            "alpha": "Uniform(0.2, 0.5)",
            "B": "LogNormal(7.0, 0.5)",
            "beta": "Uniform(0.2, 0.5)",
        },
        "budget": 1e22,
        "plan_kwargs": {},
        "sampler": {"tune": 500, "target_accept": 0.95},
    },
    "zhao2025": {
        "design": lambda: zhao_design(200, seed=12),
        "priors": {
            "e": "LogNormal(-1.8, 0.3)",
            "f": "LogNormal(2.0, 0.3)",
            "m": "LogNormal(1.6, 0.3)",
            "n": "Normal(-3.2, 0.5)",
            "k": "LogNormal(-6.5, 0.5)",
            "h": "LogNormal(-3.1, 0.3)",
            "a": "LogNormal(3.6, 0.3)",
            "alpha": "Uniform(0.2, 0.3)",
            "b": "LogNormal(10.0, 0.5)",
            "beta": "Uniform(0.4, 0.55)",
            "c": "LogNormal(3.4, 0.3)",
            "eps": "Uniform(1.6, 2.0)",
        },
        "budget": 1e22,
        "plan_kwargs": {"max_total_params": 1e11},
        # the law file's hint is 0.99 / 2000 tuning steps; 1000 keeps 200 fits near 20 minutes
        "sampler": {"tune": 1000, "target_accept": 0.99},
    },
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=200, help="simulations per seed")
    ap.add_argument("--seed", type=int, action="append", help="sweep seed (repeatable; default 0 and 1)")
    ap.add_argument("--law", action="append", choices=list(SETUPS))
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: the law's setup)")
    ap.add_argument("--chains", type=int, default=2, help="chains per fit (other than 2: own key and cache)")
    ap.add_argument("--scheduler", default=None)
    # the committed results before 2026-12-07 ran with Normal noise, the default then
    ap.add_argument("--likelihood", default=observation.LIKELIHOOD, choices=observation.LIKELIHOODS)
    args = ap.parse_args()
    seeds = args.seed or [0, 1]
    out_path = Path(__file__).parent / "results" / "calibration.json"
    summary = json.loads(out_path.read_text()) if out_path.exists() else {}
    # Normal-noise results keep the law's name as their key (the default before 2026-12-07)
    tag = "" if args.likelihood == "normal" else f" ({args.likelihood})"
    suffix = "" if args.likelihood == "normal" else f"-{args.likelihood}"
    for name in args.law or list(SETUPS):
        s = SETUPS[name]
        # other chain lengths than the committed setups' get their own key and cache
        longer = args.draws != ap.get_default("draws") or (args.tune is not None and args.tune != s["sampler"]["tune"])
        chains = "" if args.chains == ap.get_default("chains") else f", {args.chains} chains"
        if args.tune is not None:
            s = {**s, "sampler": {**s["sampler"], "tune": args.tune}}
        key = name + (
            f" ({args.likelihood}, {args.draws} draws, {s['sampler']['tune']} tune{chains})"
            if longer or chains
            else tag
        )
        cache = f"sbc-{name}{suffix}" + (f"-d{args.draws}-t{s['sampler']['tune']}" if longer else "")
        cache += f"-c{args.chains}" if chains else ""
        entry: dict = {
            "machine": platform.platform(),
            "cpus": __import__("os").cpu_count(),
            "bayesmoe": bm.__version__,
            "sims_per_seed": args.sims,
            "draws": args.draws,
            "chains": args.chains,
            "likelihood": args.likelihood,
            **s["sampler"],
            "per_seed": {},
        }
        results = []
        for seed in seeds:
            t0 = time.perf_counter()
            cal = calibrate(
                name,
                s["design"](),
                sims=args.sims,
                out_dir=Path(__file__).parent / "cache" / f"{cache}-seed{seed}",
                priors=s["priors"],
                draws=args.draws,
                chains=args.chains,
                **s["sampler"],
                budget=s["budget"],
                likelihood=args.likelihood,
                plan_kwargs=s["plan_kwargs"],
                scheduler=args.scheduler,
                seed=seed,
            )
            print(f"seed {seed}:", cal)
            entry["per_seed"][str(seed)] = {
                "wall_s": time.perf_counter() - t0,
                "counts": cal.counts(),
                "convergence": cal.convergence(),
                "coverage": cal.coverage().to_dict(orient="index"),
            }
            results += cal.results
        pooled = Calibration(name, results)  # every seed's simulations together
        print(f"all seeds {seeds}:", pooled)
        entry |= {
            "counts": pooled.counts(),
            "convergence": pooled.convergence(),
            "coverage": pooled.coverage().to_dict(orient="index"),
        }
        if all("noise" in r for r in pooled.ok):  # sweeps cached before noise values were recorded have none
            by_sigma = pooled.coverage_by("sigma", SIGMA_EDGES)
            print("90 % coverage by the runs' true noise sd:\n", by_sigma.round(3).to_string())
            entry["coverage_90_by_sigma"] = by_sigma.to_dict(orient="index")
        summary[key] = entry
        with atomic_path(out_path) as tmp:
            tmp.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
