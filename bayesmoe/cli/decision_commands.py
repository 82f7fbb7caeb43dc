"""Commands that use saved fits: ``plan``, ``design``, ``compare``, ``backtest``, ``calibrate``, ``report``."""

from __future__ import annotations

from pathlib import Path

import click

from bayesmoe.cli.app import emit_json, main, pairs, progress


@main.command("plan")
@click.argument("fit_path", metavar="FIT.nc", type=click.Path(dir_okay=False))
@click.option("--budget", required=True, type=float, help="Training compute C in FLOPs.")
@click.option("--max-total-params", type=float, default=None, help="Memory limit on N.")
@click.option("--max-active-params", type=float, default=None, help="Inference limit on N_a.")
@click.option("--max-tokens", type=float, default=None, help="Data available (tokens).")
@click.option("--fix", "fix", multiple=True, help="Fix a discrete input: --fix G=8 (repeatable).")
@click.option(
    "--risk",
    type=click.Choice(["mean", "q90", "cvar90"]),
    default="mean",
    show_default=True,
    help="What the decision minimises over draws: mean loss, its 90 % quantile, or the mean of the worst 10 %.",
)
@click.option("--price", type=float, default=0.0, help="Loss added per 1e9 activated parameters (inference cost).")
@click.option("--attention-flops", type=float, default=0.0, help="Attention FLOPs per token added to 6 N_a (C = M D).")
@click.option("--target-loss", type=float, default=None, help="Also find the smallest budget reaching this loss.")
@click.option("--probability", type=float, default=0.9, show_default=True, help="Confidence for --target-loss.")
@click.option("--group", default=None, help="Plan with one group's parameters.")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write the plan to this .json or .yaml file (decision, intervals, extrapolation, notes, layout).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def plan_cmd(
    fit_path: str,
    budget: float,
    max_total_params: float | None,
    max_active_params: float | None,
    max_tokens: float | None,
    fix: tuple,
    risk: str,
    price: float,
    attention_flops: float,
    target_loss: float | None,
    probability: float,
    group: str | None,
    out_path: str | None,
    as_json: bool,
) -> None:
    """Plan a run of --budget FLOPs: per-draw optima, the decision, and its uncertainty.

    \b
    Examples:
      bayesmoe plan fit.nc --budget 1e22
      bayesmoe plan zhao.nc --budget 1e22 --max-total-params 1e11 --risk cvar90 --target-loss 2.2
      bayesmoe plan fit.nc --budget 1e22 --out plan.yaml
    """
    import bayesmoe as bm
    from bayesmoe.decisions import budget_for_target, plan
    from bayesmoe.decisions.closed_forms import optima, summarize_optima

    f = bm.load(fit_path)
    kw = dict(
        max_total_params=max_total_params,
        max_active_params=max_active_params,
        max_tokens=max_tokens,
        fixed=pairs(fix, "--fix", float) or None,
        attention_flops=attention_flops,
        group=group,
    )
    if out_path is not None:
        from bayesmoe.files import check_output

        check_output(out_path)  # before the search: a bad path fails at once
    p = plan(f, budget, risk=risk, price_per_billion_active=price, **kw)
    if out_path is not None:
        p.export(out_path)
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
    click.echo(f"\nDecision ({risk}): " + ", ".join(f"{k}={v:.4g}" for k, v in p.decision.items() if k != "risk_loss"))
    lo, hi = payload["decision_loss_90"]
    click.echo(f"Loss of the decision: mean {payload['decision_loss_mean']:.4f}, 90 % interval [{lo:.4f}, {hi:.4f}]")
    if opt.data_vars:
        click.echo("\nLaw optima:\n" + summarize_optima(opt).to_string(float_format=lambda v: f"{v:.4g}"))
    if target is not None:
        click.echo(
            f"\nSmallest budget reaching loss {target_loss} with probability >= {probability:.0%}: {target['budget']:.3g} FLOPs"
        )


@main.command("design")
@click.argument("fit_path", metavar="FIT.nc", type=click.Path(dir_okay=False))
@click.option("--budget", required=True, type=float, help="Training compute C (FLOPs) of the decision to sharpen.")
@click.option(
    "--candidates",
    "candidates_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV of candidate runs, one per row, with a column for every input of the law (e.g. N, D).",
)
@click.option("--spend", required=True, type=float, help="FLOPs available for the new runs, in total.")
@click.option(
    "--target",
    type=click.Choice(["n_opt_width", "regret", "loss_width", "G_width", "S_width"]),
    default="n_opt_width",
    show_default=True,
    help="What to sharpen: the 90 % interval width of log N* (or G*, S*, the optimum's loss), or the expected regret.",
)
@click.option("--max-runs", type=int, default=None, help="Choose at most this many runs.")
@click.option("--max-total-params", type=float, default=None, help="Memory limit on N for the decision.")
@click.option("--max-active-params", type=float, default=None, help="Inference limit on N_a for the decision.")
@click.option("--simulations", type=int, default=64, show_default=True, help="Simulated outcomes per candidate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the simulated outcomes.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def design_cmd(
    fit_path: str,
    budget: float,
    candidates_path: str,
    spend: float,
    target: str,
    max_runs: int | None,
    max_total_params: float | None,
    max_active_params: float | None,
    simulations: int,
    seed: int,
    as_json: bool,
) -> None:
    """Which candidate runs to train next, within --spend FLOPs, to sharpen the decision at --budget.

    \b
    Example:
      bayesmoe design fit.nc --budget 1e23 --candidates grid.csv --spend 5e20
    """
    import bayesmoe as bm
    from bayesmoe.runs.table import read_table

    f = bm.load(fit_path)
    cand = read_table(candidates_path)
    d = bm.design(
        f,
        budget=budget,
        candidates=cand,
        spend=spend,
        target=target,
        max_runs=max_runs,
        simulations=simulations,
        seed=seed,
        max_total_params=max_total_params,
        max_active_params=max_active_params,
    )
    if as_json:
        emit_json(d.to_dict())
        return
    click.echo(repr(d))


@main.command("compare")
@click.argument("fit_paths", metavar="FIT.nc...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--refit-flagged", is_flag=True, help="Replace runs with Pareto k > 0.7 by exact leave-one-out refits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def compare_cmd(fit_paths: tuple[str, ...], refit_flagged: bool, as_json: bool) -> None:
    """Compare fits of different laws to the same runs (PSIS-LOO, stacking weights).

    \b
    Example:
      bayesmoe compare clark.nc zhao.nc ludz.nc --json
    """
    import bayesmoe as bm
    from bayesmoe.criticism.comparison import compare

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
@click.option("--data", required=True, type=click.Path(dir_okay=False), help="Runs table (CSV or Parquet).")
@click.option("--split", default="compute:0.7", show_default=True, help="'compute:0.7', 'N_a:0.5' or 'N:<=1e9'.")
@click.option("--groups", default=None, help="Column whose values are groups with partially pooled parameters.")
@click.option("--no-baseline", is_flag=True, help="Skip the Huber point-fit baseline.")
@click.option("--bootstrap", default=200, show_default=True, type=int, help="Resamples of the Huber baseline.")
@click.option(
    "--draws", default=None, type=int, help="Posterior draws per chain [default: each law's hint, else 1000]."
)
@click.option("--tune", default=None, type=int, help="Tuning steps [default: each law's hint, else 1000].")
@click.option("--map", "mapping", multiple=True, help="Rename a column: --map params=N.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def backtest_cmd(
    laws: tuple[str, ...],
    data: str,
    split: str,
    groups: str | None,
    no_baseline: bool,
    bootstrap: int,
    draws: int | None,
    tune: int | None,
    mapping: tuple,
    as_json: bool,
) -> None:
    """Fit laws on the cheap runs and score them on the expensive ones, beside the Huber baseline.

    \b
    Example:
      bayesmoe backtest --law chinchilla --law zhao2025 --data runs.csv --split compute:0.7
    """
    import bayesmoe as bm
    from bayesmoe.criticism.backtesting import backtest

    runs = bm.load_runs(data, columns=pairs(mapping, "--map") or None)
    bt = backtest(
        list(laws), runs, split, groups=groups, baseline=not no_baseline, bootstrap=bootstrap, draws=draws, tune=tune
    )
    if as_json:
        emit_json(bt.to_dict())
    else:
        click.echo(repr(bt))


@main.command("calibrate")
@click.option("--law", required=True, help="Law to simulate from and fit (see `bayesmoe laws`).")
@click.option("--sims", default=200, show_default=True, type=int, help="Simulated data sets (one fit each).")
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
@click.option("--draws", default=500, show_default=True, type=int, help="Posterior draws per chain of each fit.")
@click.option("--budget", default=None, type=float, help="Also calibrate N_opt at this budget.")
@click.option("--out-dir", default=None, help="Where per-simulation results go (resumable). Default: sbc-LAW.")
@click.option("--scheduler", default=None, help="Dask scheduler address; default a LocalCluster.")
@click.option("--workers", default=None, type=int, help="Dask workers of the local cluster [default: CPU count].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def calibrate_cmd(
    law: str,
    sims: int,
    design: str | None,
    n_runs: int,
    prior: tuple,
    draws: int,
    budget: float | None,
    out_dir: str | None,
    scheduler: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Simulation-based calibration on Dask: rank histograms and interval coverage.

    \b
    Example:
      bayesmoe calibrate --law chinchilla --sims 200 --prior 'A=LogNormal(6, 0.5)' --budget 1e22
    """
    import pandas as pd

    import bayesmoe as bm
    from bayesmoe.criticism.calibration import calibrate
    from bayesmoe.laws.simulation import generic_design, zhao_design

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
    cal = calibrate(
        law_obj,
        frame,
        sims=sims,
        out_dir=out_dir or f"sbc-{law_obj.name}",
        priors=pairs(prior, "--prior") or None,
        draws=draws,
        tune=draws,
        budget=budget,
        scheduler=scheduler,
        n_workers=workers,
        progress=progress() and not as_json,
    )
    if as_json:
        emit_json(
            {
                "law": law_obj.name,
                "counts": cal.counts(),
                "coverage": cal.coverage().to_dict(orient="index"),
                "rank_histograms": cal.rank_histograms().to_dict(orient="list"),
            }
        )
    else:
        click.echo(repr(cal))


@main.command("report")
@click.argument("fit_path", metavar="FIT.nc", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option("--budget", type=float, default=None, help="Include a plan for this budget (FLOPs).")
@click.option("--max-total-params", type=float, default=None, help="Memory limit on N for the report's plan.")
@click.option(
    "--candidates",
    "candidates_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV of candidate runs: adds a section on which to train next (needs --budget and --spend).",
)
@click.option("--spend", type=float, default=None, help="FLOPs available for the candidate runs, in total.")
def report_cmd(
    fit_path: str,
    out: str,
    budget: float | None,
    max_total_params: float | None,
    candidates_path: str | None,
    spend: float | None,
) -> None:
    """Write a self-contained HTML report (figures embedded) for a saved fit.

    \b
    Example:
      bayesmoe report fit.nc --out report.html --budget 1e22
      bayesmoe report fit.nc --out report.html --budget 1e23 --candidates grid.csv --spend 5e20
    """
    import bayesmoe as bm
    from bayesmoe.files import check_output
    from bayesmoe.runs.table import read_table
    from bayesmoe.viz.report import write_report

    if candidates_path is not None and (budget is None or spend is None):
        raise click.UsageError("--candidates needs --budget (the decision to sharpen) and --spend (FLOPs for new runs)")
    check_output(out)  # before loading and drawing: a bad path costs nothing
    f = bm.load(fit_path)
    limits = {"max_total_params": max_total_params} if max_total_params else {}
    d = None
    if candidates_path is not None:
        d = bm.design(f, budget=budget, candidates=read_table(candidates_path), spend=spend, **limits)
    path = write_report(f, out, budget, design=d, **limits)
    click.echo(f"Wrote {path}")
