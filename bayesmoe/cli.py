"""Command line: ``bayesmoe laws | fit | demo | ...``. Errors are one line and a non-zero exit.

Exit codes: 0 success, 1 finished but diagnostics failed (with ``--strict``),
2 bad input or request, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

EXIT_DIAGNOSTICS, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def emit_json(payload: dict) -> None:
    click.echo(json.dumps(_jsonable(payload), indent=2, sort_keys=False))


class Main(click.Group):
    """Turns every expected error into one line on stderr and a stable exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        from bayesmoe import interrupt
        from bayesmoe.errors import BayesMoEError

        previous = interrupt.install()
        try:
            kwargs.pop("standalone_mode", None)
            result = super().main(*args, standalone_mode=False, **kwargs)
            interrupt.check()  # a stop swallowed by compiled code still ends as an interrupt
            return result
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_INPUT)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("", EXIT_INTERRUPTED)
        except BayesMoEError as exc:
            _fail(f"error: {exc}", EXIT_INPUT)
        except Exception as exc:  # last resort: still one line, no traceback
            _fail(f"internal error: {type(exc).__name__}: {exc} (please report this)", EXIT_INTERNAL)
        finally:
            interrupt.restore(previous)


def _fail(message: str, code: int) -> None:
    """One line on stderr and the exit code; after a stop, any error is the stop's aftermath.

    A SIGTERM that lands inside compiled code (a model being compiled, say) is swallowed there
    and resurfaces as some other error; the recorded stop decides what the exit says.
    """
    from bayesmoe import interrupt

    if code == EXIT_INTERRUPTED or interrupt.stopped():
        message, code = "error: interrupted; no output file was left half-written", EXIT_INTERRUPTED
    click.echo(message, err=True)
    sys.exit(code)


def _pairs(values: tuple[str, ...], what: str, cast: Any = str) -> dict[str, Any]:
    from bayesmoe.errors import BayesMoEError

    out = {}
    for v in values:
        if "=" not in v:
            raise BayesMoEError(f"{what} must look like name=value, got {v!r}")
        k, _, x = v.partition("=")
        try:
            out[k.strip()] = cast(x.strip())
        except ValueError:
            raise BayesMoEError(f"{what}: cannot read {x!r} in {v!r}") from None
    return out


def _progress() -> bool:
    return sys.stderr.isatty()


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bayesmoe")
def main() -> None:
    """Bayesian scaling laws for Mixture-of-Experts language models.

    \b
    Examples:
      bayesmoe laws
      bayesmoe identify --law chinchilla --data runs.csv
      bayesmoe fit --law chinchilla --data runs.csv --out fit.nc --groups corpus
      bayesmoe demo
    """


@main.command("laws")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def laws_cmd(as_json: bool) -> None:
    """List the law catalogue (models/ and $BAYESMOE_MODELS)."""
    from bayesmoe.laws import get_law, list_laws

    laws = [get_law(n) for n in list_laws()]
    if as_json:
        emit_json(
            {
                "laws": [
                    {
                        "name": law.name,
                        "inputs": law.inputs,
                        "params": law.params,
                        "loss": law.spec.loss,
                        "citation": law.spec.citation,
                    }
                    for law in laws
                ]
            }
        )
        return
    for law in laws:
        click.echo(f"{law.name:<24} inputs {','.join(law.inputs):<16} L = {law.spec.loss}")
        click.echo(f"{'':<24} {law.spec.citation}")


def _fit_report(fit: Any, out: Path | None) -> dict:
    table = fit.summary()
    return {
        "law": fit.law.name,
        "runs": len(fit.runs),
        "synthetic": fit.runs.synthetic,
        "groups": fit.groups,
        "settings": fit.settings,
        "summary": {i: {c: row[c] for c in table.columns} for i, row in table.iterrows()},
        "diagnostics": fit.diagnostics().to_dict(),
        "out": str(out) if out else None,
    }


def _print_fit(fit: Any) -> None:
    cols = [
        c for c in ("mean", "sd", "hdi_5%", "hdi_95%", "r_hat", "ess_bulk", "published") if c in fit.summary().columns
    ]
    click.echo(
        f"{fit.law.name} on {len(fit.runs)} runs ({fit.runs.source}); {fit.settings['wall_time_s']:.1f} s with {fit.settings['sampler']}"
    )
    click.echo(fit.summary()[cols].to_string(float_format=lambda v: f"{v:.4g}"))
    click.echo("\nDiagnostics: " + str(fit.diagnostics()))


@main.command("fit")
@click.option("--law", required=True, help="Catalogue name or path to a law .toml file.")
@click.option(
    "--data", "data", required=True, type=click.Path(dir_okay=False), help="Runs table (.csv, .csv.gz, .parquet)."
)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to save the fit (.nc).")
@click.option("--groups", default=None, help="Column whose levels get partially pooled parameters.")
@click.option("--sampler", default=None, help="nutpie (default), pymc or numpyro.")
@click.option("--draws", default=1000, show_default=True, type=int)
@click.option("--tune", default=None, type=int, help="Tuning steps [default: the law's [sampling] hint, else 1000].")
@click.option(
    "--target-accept",
    "target_accept",
    default=None,
    type=float,
    help="NUTS step-size target [default: the law's hint, else 0.9; 0.95 with --groups].",
)
@click.option("--chains", default=4, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--likelihood", default="normal", show_default=True, type=click.Choice(["normal", "studentt"]))
@click.option("--map", "mapping", multiple=True, help="Rename a column: --map params=N (repeatable).")
@click.option("--scale", "scale", multiple=True, help="Multiply a column: --scale N=1e9 (repeatable).")
@click.option("--prior", "prior", multiple=True, help="Override a prior: --prior 'alpha=Uniform(0.1, 0.6)'.")
@click.option("--strict", is_flag=True, help="Exit 1 when diagnostics fail.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fit_cmd(law: str, data: str, out: str, groups: str | None, sampler: str | None, draws: int, tune: int | None,
            target_accept: float | None, chains: int, seed: int, likelihood: str, mapping: tuple, scale: tuple, prior: tuple, strict: bool,
            as_json: bool) -> None:  # fmt: skip
    """Fit a law to a runs table and save the posterior.

    \b
    Example:
      bayesmoe fit --law zhao2025 --data runs.csv --map params=N --out zhao.nc --json
    """
    import warnings

    import bayesmoe as bm
    from bayesmoe.fit import DEFAULT_SAMPLER

    runs = bm.load_runs(data, columns=_pairs(mapping, "--map") or None, scale=_pairs(scale, "--scale", float) or None)
    law_obj = bm.get_law(law)
    out_path = Path(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        f = bm.fit(law_obj, runs, groups=groups, sampler=sampler or DEFAULT_SAMPLER, draws=draws, tune=tune,
                   target_accept=target_accept, chains=chains, seed=seed, likelihood=likelihood, priors=_pairs(prior, "--prior") or None,
                   progressbar=_progress() and not as_json)  # fmt: skip
    f.save(out_path)
    if as_json:
        emit_json(_fit_report(f, out_path))
    else:
        _print_fit(f)
        click.echo(f"\nSaved to {out_path}")
    if strict and not f.diagnostics().ok:
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("identify")
@click.option("--law", required=True, help="Catalogue name or path to a law .toml file.")
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Runs table (.csv or .parquet).")
@click.option("--map", "mapping", multiple=True, help="Rename a column: --map params=N (repeatable).")
@click.option("--scale", "scale", multiple=True, help="Multiply a column: --scale N=1e9 (repeatable).")
@click.option("--prior", "prior", multiple=True, help="Override a prior: --prior 'beta=Fixed(0.47)'.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def identify_cmd(law: str, data: str, mapping: tuple, scale: tuple, prior: tuple, as_json: bool) -> None:
    """Say which parameter combinations the runs can identify, before spending a fit on them.

    Exit code 0 when every combination is identified, 1 when some rest on their priors.

    \b
    Example:
      bayesmoe identify --law ludziejewski2025 --data runs.csv --prior 'beta=Fixed(0.1775)'
    """
    import bayesmoe as bm
    from bayesmoe.fit import resolve_priors
    from bayesmoe.identify import identifiability

    runs = bm.load_runs(data, columns=_pairs(mapping, "--map") or None, scale=_pairs(scale, "--scale", float) or None)
    law_obj = bm.get_law(law)
    check = identifiability(law_obj, runs, resolve_priors(law_obj, _pairs(prior, "--prior") or None))
    if as_json:
        emit_json({"law": law_obj.name, "ok": check.ok, "constant_inputs": check.constant_inputs,
                   "weak": [{"strength": w.strength, "weights": w.weights} for w in check.weak],
                   "suggest_fixed": {k: check.point[k] for k in check.suggest_fixed}})  # fmt: skip
    else:
        click.echo(str(check))
    if not check.ok:
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("demo")
@click.option("--out-dir", default="bayesmoe-demo", show_default=True, type=click.Path(file_okay=False))
@click.option("--draws", default=1000, show_default=True, type=int)
@click.option("--tune", default=1000, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True)
def demo_cmd(out_dir: str, draws: int, tune: int, as_json: bool) -> None:
    """Fit clark2022 to the bundled DeepMind routing runs (S-Base router) and save it."""
    import warnings

    import bayesmoe as bm

    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    runs = bm.datasets.clark2022("S-Base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        f = bm.fit("clark2022", runs, draws=draws, tune=tune, progressbar=_progress() and not as_json)
    out = d / "clark2022-sbase.nc"
    f.save(out)
    published = f.law.published("S-Base")
    from bayesmoe.report import write_report

    report = write_report(f, d / "report.html")
    if as_json:
        emit_json({**_fit_report(f, out), "published": published, "report": str(report)})
        return
    _print_fit(f)
    click.echo("\nPublished (Clark et al. 2022, S-Base): " + ", ".join(f"{k}={v:g}" for k, v in published.items()))
    click.echo(f"\nSaved the fit to {out}")
    click.echo(f"Wrote the report to {report} - open it in a browser.")


@main.command("plan")
@click.argument("fit_path", metavar="FIT.nc", type=click.Path(dir_okay=False))
@click.option("--budget", required=True, type=float, help="Training compute C in FLOPs.")
@click.option("--max-total-params", type=float, default=None, help="Memory limit on N.")
@click.option("--max-active-params", type=float, default=None, help="Inference limit on N_a.")
@click.option("--max-tokens", type=float, default=None, help="Data available (tokens).")
@click.option("--fix", "fix", multiple=True, help="Fix a discrete input: --fix G=8 (repeatable).")
@click.option("--risk", type=click.Choice(["mean", "q90", "cvar90"]), default="mean", show_default=True)
@click.option("--price", type=float, default=0.0, help="Loss added per 1e9 activated parameters (inference cost).")
@click.option("--attention-flops", type=float, default=0.0, help="Attention FLOPs per token added to 6 N_a (C = M D).")
@click.option("--target-loss", type=float, default=None, help="Also find the smallest budget reaching this loss.")
@click.option("--probability", type=float, default=0.9, show_default=True, help="Confidence for --target-loss.")
@click.option("--group", default=None, help="Plan with one group's parameters.")
@click.option("--json", "as_json", is_flag=True)
def plan_cmd(fit_path: str, budget: float, max_total_params: float | None, max_active_params: float | None,
             max_tokens: float | None, fix: tuple, risk: str, price: float, attention_flops: float,
             target_loss: float | None, probability: float, group: str | None, as_json: bool) -> None:  # fmt: skip
    """Plan a run of --budget FLOPs: per-draw optima, the decision, and its uncertainty.

    \b
    Examples:
      bayesmoe plan fit.nc --budget 1e22
      bayesmoe plan zhao.nc --budget 1e22 --max-total-params 1e11 --risk cvar90 --target-loss 2.2
    """
    import bayesmoe as bm
    from bayesmoe.decide import optima, summarize_optima
    from bayesmoe.plan import budget_for_target, plan

    f = bm.load(fit_path)
    kw = dict(max_total_params=max_total_params, max_active_params=max_active_params, max_tokens=max_tokens,
              fixed=_pairs(fix, "--fix", float) or None, attention_flops=attention_flops, group=group)  # fmt: skip
    p = plan(f, budget, risk=risk, price_per_billion_active=price, **kw)
    opt = optima(f, group=group)
    payload = p.to_dict()
    payload["law_optima"] = summarize_optima(opt).to_dict(orient="index") if opt.data_vars else {}
    target = None
    if target_loss is not None:
        target = budget_for_target(f, target_loss, probability=probability, risk=risk, **kw)
        payload["budget_for_target"] = {k: v for k, v in target.items() if k != "plan"}
    if as_json:
        emit_json(payload)
        return
    click.echo(repr(p))
    click.echo(f"\nDecision ({risk}): " + ", ".join(f"{k}={v:.4g}" for k, v in p.decision.items() if k != "risk"))
    lo, hi = payload["decision_loss_90"]
    click.echo(f"Loss of the decision: mean {payload['decision_loss_mean']:.4f}, 90 % interval [{lo:.4f}, {hi:.4f}]")
    click.echo(f"P(decision within 0.1 % of each draw's optimum) = {p.near_optimal_probability:.2f}")
    for k, v in p.extrapolation.items():
        if v > 1:
            click.echo(f"Extrapolation: {k} is {v:.3g}x the largest run in the data")
    if opt.data_vars:
        click.echo("\nLaw optima:\n" + summarize_optima(opt).to_string(float_format=lambda v: f"{v:.4g}"))
    if target is not None:
        click.echo(
            f"\nSmallest budget reaching loss {target_loss} with probability >= {probability:.0%}: {target['budget']:.3g} FLOPs"
        )


@main.command("compare")
@click.argument("fit_paths", metavar="FIT.nc...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--refit-flagged", is_flag=True, help="Replace runs with Pareto k > 0.7 by exact leave-one-out refits.")
@click.option("--json", "as_json", is_flag=True)
def compare_cmd(fit_paths: tuple[str, ...], refit_flagged: bool, as_json: bool) -> None:
    """Compare fits of different laws to the same runs (PSIS-LOO, stacking weights).

    \b
    Example:
      bayesmoe compare clark.nc zhao.nc ludz.nc --json
    """
    import bayesmoe as bm
    from bayesmoe.compare import compare

    fits = {}
    for p in fit_paths:
        f = bm.load(p)
        name = f.law.name if f.law.name not in fits else f"{f.law.name} ({Path(p).name})"
        fits[name] = f
    c = compare(fits, refit_flagged=refit_flagged)
    if as_json:
        emit_json(c.to_dict())
    else:
        click.echo(repr(c))
        click.echo(f"\nBest by PSIS-LOO: {c.best} (stacking weight {c.weights.iloc[0]:.2f})")


@main.command("backtest")
@click.option("--law", "laws", multiple=True, required=True, help="Law to test (repeatable).")
@click.option("--data", required=True, type=click.Path(dir_okay=False))
@click.option("--split", default="compute:0.7", show_default=True, help="'compute:0.7', 'N_a:0.5' or 'N:<=1e9'.")
@click.option("--groups", default=None)
@click.option("--no-baseline", is_flag=True, help="Skip the Huber point-fit baseline.")
@click.option("--bootstrap", default=200, show_default=True, type=int)
@click.option("--draws", default=1000, show_default=True, type=int)
@click.option("--tune", default=None, type=int, help="Tuning steps [default: each law's hint, else 1000].")
@click.option("--map", "mapping", multiple=True, help="Rename a column: --map params=N.")
@click.option("--json", "as_json", is_flag=True)
def backtest_cmd(laws: tuple[str, ...], data: str, split: str, groups: str | None, no_baseline: bool, bootstrap: int,
                 draws: int, tune: int, mapping: tuple, as_json: bool) -> None:  # fmt: skip
    """Fit laws on the cheap runs and score them on the expensive ones, beside the Huber baseline.

    \b
    Example:
      bayesmoe backtest --law chinchilla --law zhao2025 --data runs.csv --split compute:0.7
    """
    import bayesmoe as bm
    from bayesmoe.backtest import backtest

    runs = bm.load_runs(data, columns=_pairs(mapping, "--map") or None)
    bt = backtest(
        list(laws), runs, split, groups=groups, baseline=not no_baseline, bootstrap=bootstrap, draws=draws, tune=tune
    )
    if as_json:
        emit_json(bt.to_dict())
    else:
        click.echo(repr(bt))


@main.command("calibrate")
@click.option("--law", required=True)
@click.option("--sims", default=200, show_default=True, type=int)
@click.option(
    "--design",
    default=None,
    help="'zhao' (446-run Zhao grid), 'generic', or a CSV of inputs. Default: zhao for zhao2025.",
)
@click.option("--runs", "n_runs", default=60, show_default=True, type=int, help="Rows of a generated design.")
@click.option(
    "--prior",
    "prior",
    multiple=True,
    help="Calibration prior, used to simulate and to fit: --prior 'alpha=Uniform(0.2, 0.5)'.",
)
@click.option("--draws", default=500, show_default=True, type=int)
@click.option("--budget", default=None, type=float, help="Also calibrate N_opt at this budget.")
@click.option("--out-dir", default=None, help="Where per-simulation results go (resumable). Default: sbc-LAW.")
@click.option("--scheduler", default=None, help="Dask scheduler address; default a LocalCluster.")
@click.option("--workers", default=None, type=int)
@click.option("--json", "as_json", is_flag=True)
def calibrate_cmd(law: str, sims: int, design: str | None, n_runs: int, prior: tuple, draws: int, budget: float | None,
                  out_dir: str | None, scheduler: str | None, workers: int | None, as_json: bool) -> None:  # fmt: skip
    """Simulation-based calibration on Dask: rank histograms and interval coverage.

    \b
    Example:
      bayesmoe calibrate --law chinchilla --sims 200 --prior 'A=LogNormal(6, 0.5)' --budget 1e22
    """
    import pandas as pd

    import bayesmoe as bm
    from bayesmoe.calibrate import calibrate
    from bayesmoe.simulate import generic_design, zhao_design

    law_obj = bm.get_law(law)
    kind = design or ("zhao" if law_obj.name == "zhao2025" else "generic")
    if kind == "zhao":
        frame = zhao_design(n_runs if design else 446)
    elif kind == "generic":
        frame = generic_design(law_obj, n_runs)
    else:
        frame = bm.load_runs(pd.read_csv(kind).assign(loss=1.0)).df if Path(kind).is_file() else None
        if frame is None:
            raise bm.BayesMoEError(f"--design must be 'zhao', 'generic' or an existing CSV, got {kind!r}")
    cal = calibrate(law_obj, frame, sims=sims, out_dir=out_dir or f"sbc-{law_obj.name}", priors=_pairs(prior, "--prior") or None,
                    draws=draws, tune=draws, budget=budget, scheduler=scheduler, n_workers=workers, progress=not as_json)  # fmt: skip
    if as_json:
        emit_json({"law": law_obj.name, "counts": cal.counts(), "coverage": cal.coverage().to_dict(orient="index"),
                   "rank_histograms": cal.rank_histograms().to_dict(orient="list")})  # fmt: skip
    else:
        click.echo(repr(cal))


@main.command("report")
@click.argument("fit_path", metavar="FIT.nc", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--budget", type=float, default=None, help="Include a plan for this budget (FLOPs).")
@click.option("--max-total-params", type=float, default=None)
def report_cmd(fit_path: str, out: str, budget: float | None, max_total_params: float | None) -> None:
    """Write a self-contained HTML report (figures embedded) for a saved fit.

    \b
    Example:
      bayesmoe report fit.nc --out report.html --budget 1e22
    """
    import bayesmoe as bm
    from bayesmoe.report import write_report

    f = bm.load(fit_path)
    path = write_report(f, out, budget, **({"max_total_params": max_total_params} if max_total_params else {}))
    click.echo(f"Wrote {path}")


if __name__ == "__main__":
    main()
