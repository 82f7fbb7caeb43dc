"""Commands that read runs and fit laws: ``laws``, ``fit``, ``identify``, ``demo``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bayesmoe.cli.app import EXIT_DIAGNOSTICS, emit_json, main, pairs, progress
from bayesmoe.files import check_output


@main.command("laws")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def laws_cmd(as_json: bool) -> None:
    """List the law catalogue (models/ and $BAYESMOE_MODELS)."""
    from bayesmoe.laws.catalogue import load_laws

    laws = load_laws()
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
                        "prior_sets": law.prior_sets,
                    }
                    for law in laws
                ]
            }
        )
        return
    for law in laws:
        click.echo(f"{law.name:<24} inputs {','.join(law.inputs):<16} L = {law.spec.loss}")
        click.echo(f"{'':<24} {law.spec.citation}")
        if law.prior_sets:
            click.echo(f"{'':<24} prior sets: {', '.join(law.prior_sets)} (fit --prior-set NAME)")


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
@click.option(
    "--centred", is_flag=True, help="Pool centred: for groups whose own runs pin their values (e.g. one per sweep)."
)
@click.option("--sampler", default=None, help="nutpie (default), pymc or numpyro.")
@click.option("--draws", default=None, type=int, help="Posterior draws per chain [default: the law's hint, else 1000].")
@click.option("--tune", default=None, type=int, help="Tuning steps [default: the law's [sampling] hint, else 1000].")
@click.option(
    "--target-accept",
    "target_accept",
    default=None,
    type=float,
    help="NUTS step-size target [default: the law's hint, else 0.9; 0.99 with --groups].",
)
@click.option("--chains", default=4, show_default=True, type=int, help="Independent NUTS chains.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same posterior).")
@click.option(
    "--likelihood",
    default=None,
    type=click.Choice(["studentt", "normal"]),
    help="Run-to-run noise of log loss: studentt (the default; robust to outlying runs) or normal.",
)
@click.option("--map", "mapping", multiple=True, help="Rename a column: --map params=N (repeatable).")
@click.option("--scale", "scale", multiple=True, help="Multiply a column: --scale N=1e9 (repeatable).")
@click.option(
    "--loss-unit", default=None, help="What the loss measures where not nats/token, e.g. bits/character (labels only)."
)
@click.option("--prior", "prior", multiple=True, help="Override a prior: --prior 'alpha=Uniform(0.1, 0.6)'.")
@click.option(
    "--prior-set", default=None, help="Start from one of the law file's prior sets (e.g. pooled); --prior wins."
)
@click.option("--strict", is_flag=True, help="Exit 1 when diagnostics fail.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def fit_cmd(
    law: str,
    data: str,
    out: str,
    groups: str | None,
    centred: bool,
    sampler: str | None,
    draws: int | None,
    tune: int | None,
    target_accept: float | None,
    chains: int,
    seed: int,
    likelihood: str | None,
    mapping: tuple,
    scale: tuple,
    loss_unit: str | None,
    prior: tuple,
    prior_set: str | None,
    strict: bool,
    as_json: bool,
) -> None:
    """Fit a law to a runs table and save the posterior.

    \b
    Example:
      bayesmoe fit --law zhao2025 --data runs.csv --map params=N --out zhao.nc --json
    """
    import warnings

    import bayesmoe as bm
    from bayesmoe.inference.sampling import DEFAULT_SAMPLER

    runs = bm.load_runs(
        data,
        columns=pairs(mapping, "--map") or None,
        scale=pairs(scale, "--scale", float) or None,
        loss_unit=loss_unit,
    )
    law_obj = bm.get_law(law)
    priors = (law_obj.prior_set(prior_set) if prior_set else {}) | pairs(prior, "--prior")
    out_path = check_output(out)  # before any compilation or sampling: a bad path costs nothing
    with warnings.catch_warnings():
        # the diagnostics are printed in plain words below (and in --json), not as a Python warning
        warnings.simplefilter("ignore", bm.SamplingWarning)
        f = bm.fit(
            law_obj,
            runs,
            groups=groups,
            centred=centred,
            sampler=sampler or DEFAULT_SAMPLER,
            draws=draws,
            tune=tune,
            target_accept=target_accept,
            chains=chains,
            seed=seed,
            **({} if likelihood is None else {"likelihood": likelihood}),
            priors=priors or None,
            progressbar=progress() and not as_json,
        )
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
    from bayesmoe.inference.identify import identifiability
    from bayesmoe.inference.reparam import resolve_priors

    runs = bm.load_runs(data, columns=pairs(mapping, "--map") or None, scale=pairs(scale, "--scale", float) or None)
    law_obj = bm.get_law(law)
    check = identifiability(law_obj, runs, resolve_priors(law_obj, pairs(prior, "--prior") or None))
    if as_json:
        emit_json(
            {
                "law": law_obj.name,
                "ok": check.ok,
                "constant_inputs": check.constant_inputs,
                "weak": [{"strength": w.strength, "weights": w.weights} for w in check.weak],
                "suggest_fixed": {k: check.point[k] for k in check.suggest_fixed},
            }
        )
    else:
        click.echo("\n".join(check.messages(cli=True)) or str(check))
    if not check.ok:
        sys.exit(EXIT_DIAGNOSTICS)


@main.command("demo")
@click.option(
    "--out-dir",
    default="bayesmoe-demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the saved fit and the report.",
)
@click.option("--budget", default=1e23, show_default=True, type=float, help="Training compute to plan for, in FLOPs.")
@click.option("--draws", default=2000, show_default=True, type=int, help="Posterior draws per chain.")
@click.option("--tune", default=1000, show_default=True, type=int, help="Tuning (warm-up) steps per chain.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (machine-readable) instead of text.")
def demo_cmd(out_dir: str, budget: float, draws: int, tune: int, as_json: bool) -> None:
    """Runs to a decision on bundled data: fit the Chinchilla law to Gadre et al.'s RedPajama runs,
    check it, plan a BUDGET-FLOP run (N, D, loss with 90 % intervals) and write the report."""
    import bayesmoe as bm

    d = Path(out_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise bm.FitFileError(f"cannot create the output folder {d}: {exc.strerror or exc}") from None
    out = d / "gadre2024-rpj-chinchilla.nc"
    check_output(out)
    runs = bm.datasets.gadre2024(corpus="rpj")
    # at the law file's target_accept (0.99): at 0.9 this posterior has a few divergences in the tail of E
    f = bm.fit("chinchilla", runs, draws=draws, tune=tune, progressbar=progress() and not as_json)
    f.save(out)
    p = bm.plan(f, budget)  # warns (and notes on the plan) if the fit failed its checks
    from bayesmoe.viz.report import write_report

    report = write_report(f, d / "report.html", budget=budget)
    if as_json:
        emit_json({**_fit_report(f, out), "plan": p.to_dict(), "report": str(report)})
        return
    _print_fit(f)
    click.echo("")
    click.echo(str(p))
    click.echo(
        "\nThese are dense runs: no public MoE sweep varies tokens, so MoE plans (N_a, experts, G, S) need "
        "your own runs - see notebooks/03 and 04 for the routing laws."
    )
    click.echo(f"\nSaved the fit to {out}")
    click.echo(f"Wrote the report to {report} - open it in a browser.")
