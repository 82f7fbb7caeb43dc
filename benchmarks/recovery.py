"""Parameter recovery on simulated runs (issue: fitting core, 'done when').

1. zhao2025 on a 446-run Zhao-style design, truth away from the prior centres, 1 % noise:
   90 % intervals should cover >= 10 of 12 parameters and G* = sqrt(f/e); R-hat < 1.01,
   no divergences.
2. Pooling: chinchilla on three groups with different exponents; one group has 6 runs.
   The pooled fit should predict that group's held-out runs better than a fit of that
   group alone (log predictive density and median absolute error).

Run: python benchmarks/recovery.py [--quick]; prints a table and writes results/recovery.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.special import logsumexp

import bayesmoe as bm
from bayesmoe.laws.simulation import generic_design, zhao_design

ZHAO_TRUTH = {
    "e": 0.2,
    "f": 6.0,
    "m": 4.0,
    "n": -2.8,
    "k": 0.002,
    "h": 0.05,
    "a": 30.0,
    "alpha": 0.26,
    "b": 20000.0,
    "beta": 0.45,
    "c": 25.0,
    "eps": 1.9,
}


def zhao_recovery(draws: int) -> dict:
    runs = bm.simulate("zhao2025", zhao_design(446, seed=0), ZHAO_TRUTH, noise=0.01, seed=1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # tune and target_accept: the law file's [sampling] hints (2000, 0.99)
        fit = bm.fit("zhao2025", runs, draws=draws, chains=4, seed=2, progressbar=False)
    wall = time.perf_counter() - t0
    s = fit.summary(prob=0.9)
    covered = {k: bool(s.loc[k, "hdi_5%"] <= v <= s.loc[k, "hdi_95%"]) for k, v in ZHAO_TRUTH.items()}
    g = fit.derived("G_star")
    g_lo, g_hi = np.quantile(g.values, [0.05, 0.95])
    g_true = float(np.sqrt(ZHAO_TRUTH["f"] / ZHAO_TRUTH["e"]))
    d = fit.diagnostics()
    return {
        "wall_s": round(wall, 1),
        "covered": covered,
        "n_covered": sum(covered.values()),
        "G_star_true": g_true,
        "G_star_90": [float(g_lo), float(g_hi)],
        "G_star_covered": bool(g_lo <= g_true <= g_hi),
        "settings": {k: fit.settings[k] for k in ("draws", "tune", "chains", "target_accept", "sampler")},
        "max_r_hat": d.max_r_hat,
        "min_ess_bulk": d.min_ess_bulk,
        "divergences": d.divergences,
        "table": {
            k: [float(s.loc[k, "mean"]), float(s.loc[k, "hdi_5%"]), float(s.loc[k, "hdi_95%"]), ZHAO_TRUTH[k]]
            for k in ZHAO_TRUTH
        },
    }


def lpd(fit: bm.Fit, runs: bm.Runs, group: str | None) -> tuple[float, float]:
    """Log pointwise predictive density (sum) and median absolute error of held-out runs."""
    pred = bm.predict(fit, runs.df[fit.law.inputs], group=group)
    mu = np.log(pred.values.reshape(-1, len(runs)))
    sigma = fit.idata.posterior["sigma"].values.reshape(-1, 1)
    y = np.log(runs.loss())
    ll = -0.5 * ((y - mu) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)
    elpd = float(np.sum(logsumexp(ll, axis=0) - np.log(ll.shape[0])))
    mae = float(np.median(np.abs(np.median(pred.values.reshape(-1, len(runs)), axis=0) - runs.loss())))
    return elpd, mae


def pooling(draws: int, tune: int) -> dict:
    design = generic_design("chinchilla", 120, seed=5)
    design["lab"] = np.repeat(["a", "b", "c"], 40)
    truth = {"E": 1.8, "A": 300.0, "alpha": {"a": 0.28, "b": 0.32, "c": 0.36}, "B": 900.0, "beta": 0.3}
    runs = bm.simulate("chinchilla", design, truth, group="lab", noise=0.02, seed=6).df
    # group c: keep only its 6 smallest-N runs for training; the rest are held out
    c = runs[runs["lab"] == "c"].sort_values("N")
    train = runs.drop(index=c.index[6:])
    held = bm.load_runs(c.iloc[6:].reset_index(drop=True))
    kw = dict(draws=draws, tune=tune, chains=4, seed=3, progressbar=False, target_accept=0.99)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pooled = bm.fit("chinchilla", bm.load_runs(train), groups="lab", pooled=["alpha", "E"], **kw)
        alone = bm.fit("chinchilla", bm.load_runs(c.iloc[:6].reset_index(drop=True)), **kw)
    s = pooled.summary(prob=0.9)
    recovered = {
        g: [
            float(s.loc[f"alpha_group[{g}]", "hdi_5%"]),
            float(s.loc[f"alpha_group[{g}]", "hdi_95%"]),
            truth["alpha"][g],
        ]
        for g in "abc"
    }
    lp_pooled, mae_pooled = lpd(pooled, held, "c")
    lp_alone, mae_alone = lpd(alone, held, None)
    return {
        "alpha_by_group_90": recovered,
        "alpha_covered": {g: bool(v[0] <= v[2] <= v[1]) for g, v in recovered.items()},
        "heldout_elpd": {"pooled": lp_pooled, "alone": lp_alone},
        "heldout_median_abs_error": {"pooled": mae_pooled, "alone": mae_alone},
        "pooled_better": bool(lp_pooled > lp_alone and mae_pooled < mae_alone),
        "pooled_diagnostics": pooled.diagnostics().to_dict(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="300 draws instead of 1000")
    ap.add_argument("--draws", type=int, default=None, help="draws per chain (default 1000)")
    args = ap.parse_args()
    n = args.draws or (300 if args.quick else 1000)
    out = {"machine": platform.platform(), "cpus": __import__("os").cpu_count(), "bayesmoe": bm.__version__}
    out["zhao2025"] = zhao_recovery(n)
    z = out["zhao2025"]
    print(
        f"zhao2025 (446 runs): {z['n_covered']}/12 covered; G* {z['G_star_true']:.2f} in {z['G_star_90']} -> {z['G_star_covered']}; "
        f"R-hat {z['max_r_hat']:.3f}, min ESS {z['min_ess_bulk']:.0f}, divergences {z['divergences']}, {z['wall_s']} s"
    )
    for k, (m, lo, hi, t) in z["table"].items():
        print(
            f"  {k:>6}: mean {m:10.4g}  90% [{lo:10.4g}, {hi:10.4g}]  truth {t:10.4g}  {'ok' if lo <= t <= hi else 'MISS'}"
        )
    out["pooling"] = p = pooling(n, n)
    print(
        f"pooling: alpha covered per group {p['alpha_covered']}; held-out elpd pooled {p['heldout_elpd']['pooled']:.1f} vs alone "
        f"{p['heldout_elpd']['alone']:.1f}; median abs error pooled {p['heldout_median_abs_error']['pooled']:.4f} vs alone "
        f"{p['heldout_median_abs_error']['alone']:.4f} -> pooled better: {p['pooled_better']}"
    )
    path = Path(__file__).parent / "results" / "recovery.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
