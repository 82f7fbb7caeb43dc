"""Are plans good beyond the training runs? An iso-FLOP decision backtest on bundled runs.

Farseer's dense N x D grid is the one bundled sweep with enough model sizes at each large budget
to locate the compute-optimal size from the runs themselves (Gadre's corpora have two to four
sizes per budget, Clark's one token count, Muennighoff's repeated data another law). For each
split (the cheapest 50 / 60 / 70 % of runs by training compute train) and each budget C,
log-spaced from 1.5x the largest training compute up to the largest held-out budget that still
has at least ``MIN_SIZES`` model sizes whose compute lies within a factor ``WINDOW`` of C:

- **the runs' optimum**: their loss regressed on u = log N - mean, u^2 and v = log(C_run / C)
  (which absorbs the window's compute offsets); the quadratic's minimum in u at v = 0 gives
  N_emp and L_emp, with a 90 % interval from 400 bootstrap resamples of those runs;
- **the Bayes plan** (default model: Chinchilla, default priors, discrepancy on, 4 x 1000 draws)
  at C: does the 90 % interval of the per-draw optimal N contain N_emp; the loss its decision
  reaches on the runs' quadratic against L_emp (regret, relative); does the 90 % interval of the
  decision's loss (discrepancy included) contain that loss;
- **Huber + bootstrap** (the field's fit, 128 starts, 100 resamples): the same for its point
  decision and its bootstrap interval of the optimal N (Chinchilla's closed form per resample).

Budgets close together share runs, so the levels of one split are not independent checks; the
regret needs the decision inside the window's range of sizes (else it is not counted). This is
an evaluation only: nothing here chooses a default.

Run: python benchmarks/decision_backtest.py  (about 3 minutes on the 2-core machine)
Writes benchmarks/results/decision_backtest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

import bayesmoe as bm
from bayesmoe.criticism.backtesting import split_runs
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.intervals import eti
from bayesmoe.runs.compute import compute_of

OUT = Path(__file__).parent / "results" / "decision_backtest.json"
SPLITS = (0.5, 0.6, 0.7)
WINDOW = 1.25  # runs whose compute lies within this factor of the budget form its iso-FLOP slice
MIN_SIZES = 6
LEVELS = 8  # budgets per split, log-spaced


def runs_optimum(df, budget: float, rng: np.random.Generator, resamples: int = 400) -> dict | None:
    """The slice's optimum from a quadratic in log N (with a compute-offset term), and its
    bootstrap interval; None where the quadratic has no interior minimum."""
    u0 = float(np.log(df["N"]).mean())

    def solve(d) -> tuple[float, float, np.ndarray] | None:
        u = np.log(d["N"].to_numpy()) - u0
        v = np.log(d["C"].to_numpy() / budget)
        X = np.column_stack([np.ones_like(u), u, u**2, v])
        coef, *_ = np.linalg.lstsq(X, d["loss"].to_numpy(), rcond=None)
        if coef[2] <= 0:
            return None
        u_opt = -coef[1] / (2 * coef[2])
        return float(np.exp(u0 + u_opt)), float(coef[0] + coef[1] * u_opt + coef[2] * u_opt**2), coef

    best = solve(df)
    if best is None or not (df["N"].min() < best[0] < df["N"].max()):
        return None
    boot = [solve(df.iloc[rng.integers(0, len(df), len(df))]) for _ in range(resamples)]
    n_boot = np.array([b[0] for b in boot if b is not None])
    coef = best[2]

    def loss_at(n: float) -> float:
        u = np.log(n) - u0
        return float(coef[0] + coef[1] * u + coef[2] * u**2)

    return {
        "N": best[0],
        "loss": best[1],
        "N_90": [float(v) for v in eti(n_boot)],
        "loss_at": loss_at,
        "N_range": (float(df["N"].min()), float(df["N"].max())),
        "sizes": int(df["N"].nunique()),
    }


def chinchilla_n_opt(p, budget: float) -> np.ndarray:
    """Chinchilla's closed-form compute-optimal N per parameter row, from the law file's derived
    quantities (N_opt = G_coef (C / 6)**a_exp)."""
    law = bm.get_law("chinchilla")
    return np.asarray(law.derived("G_coef", p) * (budget / 6) ** law.derived("a_exp", p), float)


def one_split(runs: bm.Runs, frac: float, draws: int, bootstrap: int, seed: int) -> dict:
    train, _, how = split_runs(runs, f"compute:{frac}")
    df = runs.df.assign(C=compute_of(runs.df))
    top = float(compute_of(train.df).max())
    fit = bm.fit("chinchilla", train, draws=draws, progressbar=False, warn=False, seed=seed)
    pf = huber_fit("chinchilla", train, starts=128, bootstrap=bootstrap, seed=seed)
    rng = np.random.default_rng(seed)
    rows = []
    for budget in np.geomspace(1.5 * top, float(df["C"].max()), 4 * LEVELS):
        window = df[(df["C"] > budget / WINDOW) & (df["C"] < budget * WINDOW) & (df["C"] > top)]
        if window["N"].nunique() < MIN_SIZES:
            continue
        emp = runs_optimum(window, float(budget), rng)
        if emp is None:
            continue
        rows.append((float(budget), emp))
    if len(rows) > LEVELS:  # evenly spaced among the budgets that qualify
        rows = [rows[i] for i in np.linspace(0, len(rows) - 1, LEVELS).astype(int)]
    out = []
    for budget, emp in rows:
        p = bm.plan(fit, budget)
        n_draws = p.optimum["N"].values.ravel()
        bayes_90 = [float(v) for v in eti(n_draws)]
        n_bayes = p.decision["N"]
        n_huber = float(chinchilla_n_opt(pf.params, budget))
        huber_90 = [float(v) for v in eti(chinchilla_n_opt(pf.bootstrap, budget))]
        inside = emp["N_range"][0] <= n_bayes <= emp["N_range"][1]
        reached = emp["loss_at"](n_bayes)
        loss_90 = [float(v) for v in eti(p.decision_loss.values.ravel())]
        row = {
            "budget": budget,
            "beyond_training": budget / top,
            "sizes_in_window": emp["sizes"],
            "runs_N_opt": emp["N"],
            "runs_N_opt_90": emp["N_90"],
            "runs_loss_opt": emp["loss"],
            "bayes_N": n_bayes,
            "bayes_N_90": bayes_90,
            "bayes_covers_runs_N_opt": bool(bayes_90[0] <= emp["N"] <= bayes_90[1]),
            "bayes_regret_rel": (reached / emp["loss"] - 1) if inside else None,
            "bayes_loss_90": loss_90,
            "bayes_loss_interval_covers": bool(loss_90[0] <= reached <= loss_90[1]) if inside else None,
            "huber_N": n_huber,
            "huber_N_90": huber_90,
            "huber_covers_runs_N_opt": bool(huber_90[0] <= emp["N"] <= huber_90[1]),
            "huber_regret_rel": (
                emp["loss_at"](n_huber) / emp["loss"] - 1 if emp["N_range"][0] <= n_huber <= emp["N_range"][1] else None
            ),
        }
        out.append(row)
    d = fit.diagnostics()
    return {
        "split": how,
        "n_train": len(train),
        "largest_training_compute": top,
        "fit_checks": {"max_r_hat": d.max_r_hat, "divergences": d.divergences, "min_ess_bulk": d.min_ess_bulk},
        "budgets": out,
    }


def summary(splits: list[dict]) -> dict:
    rows = [r for s in splits for r in s["budgets"]]

    def mean(key: str) -> float | None:
        v = [r[key] for r in rows if r[key] is not None]
        return float(np.mean(v)) if v else None

    def median(key: str) -> float | None:
        v = [r[key] for r in rows if r[key] is not None]
        return float(np.median(v)) if v else None

    return {
        "budgets": len(rows),
        "beyond_training": [
            float(min(r["beyond_training"] for r in rows)),
            float(max(r["beyond_training"] for r in rows)),
        ],
        "bayes_covers_runs_N_opt": mean("bayes_covers_runs_N_opt"),
        "huber_covers_runs_N_opt": mean("huber_covers_runs_N_opt"),
        "bayes_median_regret_rel": median("bayes_regret_rel"),
        "huber_median_regret_rel": median("huber_regret_rel"),
        "bayes_mean_regret_rel": mean("bayes_regret_rel"),
        "huber_mean_regret_rel": mean("huber_regret_rel"),
        "bayes_loss_interval_covers": mean("bayes_loss_interval_covers"),
        "median_abs_log10_N_error_bayes": float(
            np.median([abs(np.log10(r["bayes_N"] / r["runs_N_opt"])) for r in rows])
        ),
        "median_abs_log10_N_error_huber": float(
            np.median([abs(np.log10(r["huber_N"] / r["runs_N_opt"])) for r in rows])
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = bm.datasets.farseer2025()
    splits = [one_split(runs, f, args.draws, args.bootstrap, args.seed) for f in SPLITS]
    result = {
        "sweep": "farseer2025 (chinchilla)",
        "window": WINDOW,
        "min_sizes": MIN_SIZES,
        "summary": summary(splits),
        "splits": splits,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
    }
    OUT.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(json.dumps(result["summary"], indent=1))
    for s in splits:
        print(s["split"], s["fit_checks"])
        for r in s["budgets"]:
            print(
                f"  C {r['budget']:.3g} ({r['beyond_training']:.1f}x): runs N* {r['runs_N_opt']:.3g} "
                f"[{r['runs_N_opt_90'][0]:.3g}, {r['runs_N_opt_90'][1]:.3g}] | Bayes {r['bayes_N']:.3g} "
                f"[{r['bayes_N_90'][0]:.3g}, {r['bayes_N_90'][1]:.3g}] regret {r['bayes_regret_rel']} | Huber "
                f"{r['huber_N']:.3g} [{r['huber_N_90'][0]:.3g}, {r['huber_N_90'][1]:.3g}] regret {r['huber_regret_rel']}"
            )


if __name__ == "__main__":
    main()
