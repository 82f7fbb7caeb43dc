"""What one zhao2025 log density and gradient costs, and how far below it a hand-fused one goes.

On the 446 simulated runs of ``benchmarks/run.py`` (issue 16): the PyTensor function nutpie
calls (log density and gradient of the sampling parametrisation), timed inside a Numba loop so
no Python overhead is counted; a hand-fused Numba loop over the runs computing the same law's
Normal log density of log loss and its gradient in the law's own 12 parameters and sigma (three
exp and one log per run: the least this law needs); and one nutpie chain, whose wall time over
its gradient evaluations (tuning included) is what a sampler step costs in practice.

The ratio says what an analytic gradient of the joint law could save at most; the evaluations
per fit (``results/zhao_settings.json``: ~45-60 leapfrog steps per draw) say what remains.

Run: python benchmarks/gradient_floor.py; writes results/gradient_floor.json (about 1 minute).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np

import bayesmoe as bm
from bayesmoe.inference import sampling
from bayesmoe.laws.simulation import zhao_design

sys.path.insert(0, str(Path(__file__).parent))
from recovery import ZHAO_TRUTH

OUT = Path(__file__).parent / "results" / "gradient_floor.json"
ORDER = ("e", "f", "m", "n", "k", "h", "a", "alpha", "b", "beta", "c", "eps")


@numba.njit(fastmath=True)
def fused(p, table, grad):  # pragma: no cover - compiled
    """Normal log density of log loss under zhao2025 (laws.md Eq. 11) and its gradient in
    (e, f, m, n, k, h, a, alpha, b, beta, c, eps, sigma); rows of ``table``: G, S, N, N_a,
    log N, log N_a, log D, log loss."""
    e, f, m, nn, k, h, a, al, b, be, c, eps, sig = p
    inv_s = 1.0 / sig
    lp = 0.0
    for j in range(13):
        grad[j] = 0.0
    for i in range(table.shape[1]):
        G, S, N, Na = table[0, i], table[1, i], table[2, i], table[3, i]
        lN, lNa, lD, y = table[4, i], table[5, i], table[6, i], table[7, i]
        eN, eNa, eD = np.exp(-al * lN), np.exp(-al * lNa), np.exp(-be * lD)
        P = e * G + f / G + m * S * S + nn * S
        ratio = Na / N
        bracket = eN + k * eNa + h * ratio
        mu = P * bracket + a * eN + b * eD + c * eNa + eps
        z = (np.log(mu) - y) * inv_s
        lp -= 0.5 * z * z
        w = -z * inv_s / mu  # d lp / d mu
        grad[0] += w * G * bracket
        grad[1] += w * bracket / G
        grad[2] += w * S * S * bracket
        grad[3] += w * S * bracket
        grad[4] += w * P * eNa
        grad[5] += w * P * ratio
        grad[6] += w * eN
        grad[7] -= w * ((P + a) * lN * eN + (P * k + c) * lNa * eNa)
        grad[8] += w * eD
        grad[9] -= w * b * lD * eD
        grad[10] += w * eNa
        grad[11] += w
        grad[12] += z * z * inv_s
    n = table.shape[1]
    grad[12] -= n * inv_s
    return lp - n * np.log(sig)


@numba.njit
def loop_fused(p, table, reps):  # pragma: no cover - compiled
    grad = np.zeros(13)
    total = 0.0
    for _ in range(reps):
        p[0] += 1e-12  # keep the compiler from hoisting the call out of the loop
        total += fused(p, table, grad) + grad[3]
    return total


def time_loop(fn, reps: int) -> float:
    """Best of three: seconds per call."""
    fn(10)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        fn(reps)
        best = min(best, time.perf_counter() - t0)
    return best / reps


def main() -> None:
    import nutpie

    runs = bm.simulate("zhao2025", zhao_design(446, seed=0), ZHAO_TRUTH, noise=0.01, seed=1)
    bm.fit("zhao2025", runs, chains=2, tune=20, draws=20, progressbar=False, warn=False)  # compile once
    compiled = sampling._COMPILED[next(reversed(sampling._COMPILED))]
    fn = compiled.logp_func
    inner = fn.vm.jit_fn
    arrays = tuple(compiled.shared_data[v.name] for v in fn.get_shared())
    x0 = compiled.initial_point_func(0)
    body = "".join(f", a{i}" for i in range(len(arrays)))
    src = (
        f"def loop_pytensor(x{body}, reps):\n    total = 0.0\n    for _ in range(reps):\n"
        f"        x[0] += 1e-12\n        lp, g = inner(x{body})\n        total += lp[()] + g[1]\n    return total\n"
    )
    env = {"inner": inner}
    exec(src, env)  # a loop over this law's own argument list
    loop_pytensor = numba.njit(env["loop_pytensor"])
    per_pytensor = time_loop(lambda r: loop_pytensor(x0.copy(), *arrays, r), 20000)

    df = runs.df
    table = np.stack(
        [df["G"], df["S"], df["N"], df["N_a"], np.log(df["N"]), np.log(df["N_a"]), np.log(df["D"]), np.log(df["loss"])]
    ).astype(float)
    p = np.array([ZHAO_TRUTH[k] for k in ORDER] + [0.01])
    per_fused = time_loop(lambda r: loop_fused(p.copy(), table, r), 20000)

    chain = []
    for seed in (0, 1):
        t0 = time.perf_counter()
        idata = nutpie.sample(
            compiled, draws=1000, tune=1000, chains=1, cores=1, seed=seed, target_accept=0.995,
            progress_bar=False, save_warmup=True, low_rank_modified_mass_matrix=True,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        steps = int(idata.sample_stats["n_steps"].sum()) + int(idata.warmup_sample_stats["n_steps"].sum())
        chain.append(
            {"seed": seed, "wall_s": round(wall, 2), "gradients": steps, "us_per_gradient": wall / steps * 1e6}
        )
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "runs": len(runs),
        "pytensor_logp_grad_us": per_pytensor * 1e6,
        "hand_fused_logp_grad_us": per_fused * 1e6,
        "fused_over_pytensor": per_fused / per_pytensor,
        "nutpie_one_chain_0.995_1000_1000": chain,
        "numba_svml": bool(numba.config.USING_SVML),
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
