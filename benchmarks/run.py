"""All speed comparisons side by side, from one run; prints ratios and writes results/run.json.

1. zhao2025 full posterior (the law's defaults, 446 simulated runs) vs the field's Huber/BFGS
   multi-start fit + 200-resample bootstrap on the same runs: wall time ratio and coverage
   of the true coefficients by the 90 % intervals.
2. Samplers (nutpie, PyMC NUTS, numpyro) on the same models: wall time incl. compile,
   min ESS per second, divergences; nutpie also warm (compiled model reused).
3. Fit time against runs (100 -> 10,000) and groups (1 -> 100), chinchilla.
4. Cold start: a fresh process from `import bayesmoe` to the first finished fit.
5. Compilation of zhao2025 in fresh processes, the Numba disk cache empty and then filled.
6. Leave-future-out refits with the compiled model reused against compiled each time.
Surfaces and planning: benchmarks/plan_surface.py. Run: python benchmarks/run.py [--quick] [--part zhao ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import bayesmoe as bm
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.files import atomic_path
from bayesmoe.laws.simulation import generic_design, zhao_design

sys.path.insert(0, str(Path(__file__).parent))
from recovery import ZHAO_TRUTH

OUT = Path(__file__).parent / "results" / "run.json"
PARTS = ["zhao", "samplers", "scaling", "cold", "compile", "refits"]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def compile_timer() -> list[float]:
    """Record the seconds of every nutpie compilation from now on (the list returned fills up)."""
    from bayesmoe.inference import sampling

    spent: list[float] = []
    compile_model = sampling.compile_model

    def timed_compile(*args, **kwargs):
        t0 = time.perf_counter()
        out = compile_model(*args, **kwargs)
        spent.append(time.perf_counter() - t0)
        return out

    sampling.compile_model = timed_compile
    return spent


def zhao_vs_bootstrap(draws: int | None) -> dict:
    runs = bm.simulate("zhao2025", zhao_design(446, seed=0), ZHAO_TRUTH, noise=0.01, seed=1)
    compiles = compile_timer()
    f, t_bayes = timed(
        lambda: bm.fit("zhao2025", runs, draws=draws, chains=4, progressbar=False)  # the law's tune/target_accept hints
    )
    # a refit in the same process reuses the compiled model (backtests, LFO and design refit so)
    fw, t_warm = timed(lambda: bm.fit("zhao2025", runs, draws=draws, chains=4, progressbar=False, seed=1))
    pf, t_boot = timed(lambda: huber_fit("zhao2025", runs, starts=256, bootstrap=200))
    cover_b = {
        k: bool(np.quantile(f.idata.posterior[k], 0.05) <= v <= np.quantile(f.idata.posterior[k], 0.95))
        for k, v in ZHAO_TRUTH.items()
    }
    cover_h = {
        k: bool(np.quantile(pf.bootstrap[k], 0.05) <= v <= np.quantile(pf.bootstrap[k], 0.95))
        for k, v in ZHAO_TRUTH.items()
    }
    d, dw = f.diagnostics(), fw.diagnostics()
    return {
        "bayes_settings": {k: f.settings[k] for k in ("draws", "tune", "chains", "target_accept")},
        "bayes_s": t_bayes,
        "bootstrap_s": t_boot,
        "ratio_bayes_over_bootstrap": t_bayes / t_boot,
        "bayes_compile_s": sum(compiles),
        "bayes_warm_s": t_warm,
        "ratio_warm_over_bootstrap": t_warm / t_boot,
        "warm_max_r_hat": dw.max_r_hat,
        "warm_divergences": dw.divergences,
        "warm_min_ess_bulk": dw.min_ess_bulk,
        "bayes_covered": sum(cover_b.values()),
        "bootstrap_covered": sum(cover_h.values()),
        "of": len(ZHAO_TRUTH),
        "bayes_max_r_hat": d.max_r_hat,
        "bayes_divergences": d.divergences,
        "bayes_min_ess_bulk": d.min_ess_bulk,
        "bayes_min_ess_tail": d.min_ess_tail,
        "warm_min_ess_tail": dw.min_ess_tail,
    }


def samplers(draws: int) -> dict:
    out = {}
    cases = {
        "chinchilla/gadre-groups": ("chinchilla", bm.datasets.gadre2024(), "corpus"),
        "clark2022/S-Base": ("clark2022", bm.datasets.clark2022("S-Base"), None),
    }
    for case, (law, runs, groups) in cases.items():
        for sampler in ("nutpie", "pymc", "numpyro"):
            f, t = timed(
                lambda law=law, runs=runs, groups=groups, sampler=sampler: bm.fit(
                    law, runs, groups=groups, sampler=sampler, draws=draws, tune=draws, progressbar=False, seed=3
                )
            )
            d = f.diagnostics()
            row = {
                "wall_s": t,
                "min_ess_bulk": d.min_ess_bulk,
                "ess_per_s": d.min_ess_bulk / t,
                "divergences": d.divergences,
                "max_r_hat": d.max_r_hat,
            }
            if sampler == "nutpie":
                _, tw = timed(
                    lambda law=law, runs=runs, groups=groups: bm.fit(
                        law, runs, groups=groups, draws=draws, tune=draws, progressbar=False, seed=4
                    )
                )
                row["warm_wall_s"] = tw
            out[f"{case}/{sampler}"] = row
    return out


def scaling(draws: int, sizes: list[int], groups: list[int]) -> dict:
    truth = {"E": 1.8, "A": 300.0, "alpha": 0.3, "B": 900.0, "beta": 0.3}
    out = {"runs": {}, "groups": {}}
    for n in sizes:
        runs = bm.simulate("chinchilla", generic_design("chinchilla", n, seed=n), truth, seed=1)
        _, t = timed(lambda runs=runs: bm.fit("chinchilla", runs, draws=draws, tune=draws, progressbar=False))
        out["runs"][n] = t
    for g in groups:
        design = generic_design("chinchilla", 1000, seed=7)
        design["lab"] = np.arange(1000) % g
        runs = bm.simulate("chinchilla", design, truth, seed=2)
        if g == 1:
            fn = lambda runs=runs: bm.fit("chinchilla", runs, draws=draws, tune=draws, progressbar=False)  # noqa: E731
        else:
            fn = lambda runs=runs: bm.fit("chinchilla", runs, groups="lab", draws=draws, tune=draws, progressbar=False)  # noqa: E731
        _, t = timed(fn)
        out["groups"][g] = t
    return out


def empty_numba_cache(tmp: str) -> dict[str, str]:
    """Environment for a child process whose PyTensor base folder is ``tmp``: the C modules are
    copied from this one (so only the Numba cache starts empty), ``tmp/numba`` is empty."""
    import shutil

    import pytensor

    base = Path(pytensor.config.base_compiledir)
    for d in base.glob("compiledir_*"):
        shutil.copytree(d, Path(tmp) / d.name, symlinks=True)
    return os.environ | {"PYTENSOR_FLAGS": f"base_compiledir={tmp}"}


COMPILE_CODE = """
import sys, time
sys.path.insert(0, {bench!r})
import bayesmoe as bm, nutpie
from bayesmoe.laws.simulation import zhao_design
from bayesmoe.inference.model import build_model
from bayesmoe.inference.nutpie_cache import compile_model
from recovery import ZHAO_TRUTH
runs = bm.simulate("zhao2025", zhao_design(446, seed=0), ZHAO_TRUTH, noise=0.01, seed=1)
model = build_model(bm.get_law("zhao2025"), runs)
t = time.perf_counter()
compile_model(model, ("benchmark", "zhao2025")) if sys.argv[1] == "bayesmoe" else nutpie.compile_pymc_model(model)
print(time.perf_counter() - t)
"""


def compile_cache() -> dict:
    """zhao2025's compilation in fresh processes, each way in its own disk cache: empty, then
    filled by the first (a later session on the same law). bayesmoe's cached nutpie wrappers
    against nutpie's own compilation, whose wrappers the cache cannot keep."""
    code = COMPILE_CODE.format(bench=str(Path(__file__).parent))
    out: dict = {"runs": 446}
    for how, label in (("bayesmoe", ""), ("nutpie", "nutpie_own_")):
        with tempfile.TemporaryDirectory() as cache:
            env = empty_numba_cache(cache)
            secs = [
                float(
                    subprocess.run(
                        [sys.executable, "-c", code, how], capture_output=True, text=True, check=True, env=env
                    ).stdout.split()[-1]
                )
                for _ in range(3)
            ]
        out |= {f"{label}empty_cache_s": secs[0], f"{label}filled_cache_s": secs[1:]}
    return out


REFIT_CODE = """
import time
import bayesmoe as bm
runs = bm.datasets.clark2022("S-Base")
t = time.perf_counter()
fit = bm.fit("clark2022", runs, draws=500, tune=500, progressbar=False)
lfo = bm.leave_future_out(fit, min_train=0.5, draws=500, tune=500, progressbar=False)
print(len(runs), lfo.refits, time.perf_counter() - t)
"""


def refits() -> dict:
    """Leave-future-out on Clark's S-Base runs (each refit has a different number of runs), in a
    fresh process each: the compiled model reused across refits (default) against compiled anew."""
    out = {}
    for label, reuse in (("reused", "1"), ("compiled_each_time", "0")):
        env = os.environ | {"BAYESMOE_COMPILE_CACHE": reuse}
        p = subprocess.run([sys.executable, "-c", REFIT_CODE], capture_output=True, text=True, check=True, env=env)
        n, k, secs = p.stdout.split()[-3:]
        out[label] = {"seconds": float(secs), "runs": int(n), "refits": int(k)}
    out["ratio"] = out["reused"]["seconds"] / out["compiled_each_time"]["seconds"]
    return out


def cold_start() -> dict:
    code = (
        "import time; t=time.perf_counter(); import bayesmoe as bm;"
        "t1=time.perf_counter(); f=bm.fit('clark2022', bm.datasets.clark2022('S-Base'), draws=500, tune=500, progressbar=False);"
        "print(t1-t, time.perf_counter()-t)"
    )
    res = []
    with tempfile.TemporaryDirectory() as cache:  # the first process starts from an empty Numba cache
        env = empty_numba_cache(cache)
        for _ in range(2):
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
            res.append([float(v) for v in p.stdout.split()[-2:]])
    return {
        "import_s": res[0][0],
        "first_fit_total_s": res[0][1],
        "second_process_total_s": res[1][1],
        "note": "the first process starts from an empty Numba disk cache, the second finds the compiled law "
        "graph and its nutpie wrappers there",
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--part",
        action="append",
        choices=PARTS,
        help="run only these parts (repeatable); others keep their last results",
    )
    args = ap.parse_args()
    parts = args.part or PARTS
    import importlib.metadata as md

    out = json.loads(OUT.read_text()) if OUT.exists() and args.part else {}
    out |= {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {p: md.version(p) for p in ("bayesmoe", "pymc", "pytensor", "arviz", "nutpie", "numpyro", "jax")},
    }
    if "zhao" in parts:
        out["zhao_vs_bootstrap"] = zhao_vs_bootstrap(300 if args.quick else None)  # None: the law's defaults
    if "samplers" in parts:
        out["samplers"] = samplers(300 if args.quick else 1000)
    if "scaling" in parts:
        out["scaling"] = scaling(
            300, [100, 1000] if args.quick else [100, 1000, 10000], [1, 10] if args.quick else [1, 10, 100]
        )
    if "cold" in parts:
        out["cold_start"] = cold_start()
    if "compile" in parts:
        out["compile_cache"] = compile_cache()
    if "refits" in parts:
        out["refits"] = refits()
    with atomic_path(OUT) as tmp:  # a run stopped midway leaves the previous results whole
        tmp.write_text(json.dumps(out, indent=2, default=str))
    report(out)
    print(f"wrote {OUT}")


def report(out: dict) -> None:
    """Print every part present in ``out`` (fresh or kept from an earlier run)."""
    if "zhao_vs_bootstrap" not in out:
        return
    z = out["zhao_vs_bootstrap"]
    print(
        f"zhao2025 posterior {z['bayes_s']:.1f} s (compilation {z.get('bayes_compile_s', float('nan')):.1f} s) vs Huber+200 bootstrap {z['bootstrap_s']:.1f} s: ratio {z['ratio_bayes_over_bootstrap']:.2f}; "
        f"90 % coverage of truth {z['bayes_covered']}/{z['of']} vs {z['bootstrap_covered']}/{z['of']}; R-hat {z['bayes_max_r_hat']:.3f}, div {z['bayes_divergences']}"
    )
    if "bayes_warm_s" in z:
        print(
            f"  refit with the compiled model reused {z['bayes_warm_s']:.1f} s: ratio {z['ratio_warm_over_bootstrap']:.2f}; "
            f"R-hat {z['warm_max_r_hat']:.3f}, div {z['warm_divergences']}, min bulk ESS {z['warm_min_ess_bulk']:.0f}"
        )
    s = out.get("samplers", {})
    base = {k.rsplit("/", 1)[0]: v["wall_s"] for k, v in s.items() if k.endswith("/nutpie")}
    for k, v in s.items():
        warm = f", warm {v['warm_wall_s']:.1f} s" if "warm_wall_s" in v else ""
        print(
            f"{k:<36} {v['wall_s']:7.1f} s (x{v['wall_s'] / base[k.rsplit('/', 1)[0]]:.2f} of nutpie){warm}; min ESS/s {v['ess_per_s']:.1f}; div {v['divergences']}; R-hat {v['max_r_hat']:.3f}"
        )
    sc = out.get("scaling", {"runs": {}, "groups": {}})
    print(
        "fit time vs runs:",
        {k: f"{v:.1f} s" for k, v in sc["runs"].items()},
        " vs groups (1000 runs):",
        {k: f"{v:.1f} s" for k, v in sc["groups"].items()},
    )
    r = out.get("refits")
    if r:
        print(
            f"leave-future-out on {r['reused']['runs']} runs ({r['reused']['refits']} refits): "
            f"{r['reused']['seconds']:.1f} s reusing the compiled model, {r['compiled_each_time']['seconds']:.1f} s "
            f"compiling each refit: ratio {r['ratio']:.2f}"
        )
    cc = out.get("compile_cache")
    if cc:
        print(
            f"zhao2025 compilation in a fresh process: {cc['empty_cache_s']:.1f} s with an empty disk cache, "
            + ", ".join(f"{v:.1f}" for v in cc["filled_cache_s"])
            + " s with it filled"
        )
        if "nutpie_own_empty_cache_s" in cc:
            print(
                f"  nutpie's own compilation: {cc['nutpie_own_empty_cache_s']:.1f} s, then "
                + ", ".join(f"{v:.1f}" for v in cc["nutpie_own_filled_cache_s"])
                + " s"
            )
    c = out.get("cold_start")
    if c:
        print(
            f"cold start: import {c['import_s']:.1f} s, first fit done {c['first_fit_total_s']:.1f} s after start; a second process {c['second_process_total_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
