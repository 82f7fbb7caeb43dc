import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

import bayesmoe as bm
from bayesmoe.cli import main


def run(*args):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False, standalone_mode=True)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def runs_csv(tmp_path, chinchilla_runs):
    runs, _ = chinchilla_runs
    path = tmp_path / "runs.csv"
    runs.df.rename(columns={"N": "params"}).to_csv(path, index=False)
    return path


def test_laws_lists_catalogue_as_json():
    code, out, _ = run("laws", "--json")
    laws = {law["name"]: law for law in json.loads(out)["laws"]}
    assert code == 0 and "zhao2025" in laws and "clark2022" in laws
    assert laws["chinchilla"]["prior_sets"] == ["pooled"] and laws["zhao2025"]["prior_sets"] == []


def test_fit_writes_file_and_json(runs_csv, tmp_path):
    out = tmp_path / "fit.nc"
    code, stdout, _ = run(
        "fit",
        "--law",
        "chinchilla",
        "--data",
        str(runs_csv),
        "--map",
        "params=N",
        "--out",
        str(out),
        "--draws",
        "30",
        "--tune",
        "30",
        "--chains",
        "2",
        "--prior-set",
        "pooled",
        "--prior",
        "beta=Uniform(0.1, 0.6)",
        "--loss-unit",
        "bits/character",
        "--json",
    )
    assert code == 0, stdout
    assert bm.load(out).runs.loss_unit == "bits/character"
    payload = json.loads(stdout)
    assert payload["law"] == "chinchilla" and "alpha" in payload["summary"] and "max_r_hat" in payload["diagnostics"]
    assert payload["synthetic"] is True and out.exists()
    saved = bm.load(out).priors  # the set's alpha, the explicit beta, the defaults elsewhere
    law = bm.get_law("chinchilla")
    assert saved["alpha"] == law.prior_set("pooled")["alpha"] and str(saved["beta"]) == "Uniform(0.1, 0.6)"
    assert saved["E"] == law.priors["E"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--law", "nope"], "unknown law 'nope'"),
        (["--law", "chinchilla", "--sampler", "gibbs"], "unknown sampler 'gibbs'"),
        (["--law", "chinchilla", "--map", "params"], "name=value"),
        (["--law", "chinchilla"], r"needs column\(s\) \['N'\].*map your names with --map your_name=N$"),
        (["--law", "chinchilla", "--map", "params=N", "--scale", "N=1e-9"], r"pass --scale N=1e9 \(or 1e6\)$"),
        (["--law", "chinchilla", "--map", "params=N", "--groups", "lab"], "group column 'lab'"),
        (["--law", "chinchilla", "--map", "params=N", "--centred"], "centred pooling need a group column"),
        (["--law", "chinchilla", "--map", "params=N", "--prior-set", "wide"], "no prior set 'wide'"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, message, runs_csv, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bayesmoe.cli",
            "fit",
            "--data",
            str(runs_csv),
            "--out",
            str(tmp_path / "f.nc"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert pd.Series(lines).str.contains(message).any(), proc.stderr
    assert not (tmp_path / "f.nc").exists()


def test_identify_names_what_the_runs_cannot_pin_down(runs_csv, tmp_path):
    code, out, _ = run("identify", "--law", "chinchilla", "--data", str(runs_csv), "--map", "params=N", "--json")
    assert code == 0 and json.loads(out)["ok"] is True
    flat = pd.read_csv(runs_csv).assign(D=2e11)  # every run at one D: B, beta and E confounded
    path = tmp_path / "flat.csv"
    flat.to_csv(path, index=False)
    code, out, _ = run("identify", "--law", "chinchilla", "--data", str(path), "--map", "params=N", "--json")
    payload = json.loads(out)
    assert code == 1 and payload["constant_inputs"] == {"D": 2e11} and "beta" in payload["suggest_fixed"]
    code, out, _ = run(
        "identify",
        "--law",
        "chinchilla",
        "--data",
        str(path),
        "--map",
        "params=N",
        "--prior",
        "beta=Fixed(0.3)",
        "--prior",
        "B=Fixed(400)",
    )
    assert code == 0 and "identify every parameter" in out


def test_every_option_of_every_command_has_help():
    import click

    from bayesmoe.cli import main

    bare = [
        (n, p.opts) for n, c in main.commands.items() for p in c.params if isinstance(p, click.Option) and not p.help
    ]
    assert bare == []


def test_fit_offers_the_likelihoods_the_library_has_and_leaves_the_default_to_it():
    """The CLI names the likelihoods itself (it imports no model code at start-up): they must stay
    those of bayesmoe.laws.observation, and without the option the library's default applies."""
    from bayesmoe.laws import observation

    opt = next(p for p in main.commands["fit"].params if p.name == "likelihood")
    assert sorted(opt.type.choices) == sorted(observation.LIKELIHOODS) and opt.default is None
    assert observation.LIKELIHOOD in opt.help


def test_warnings_print_as_one_clean_line_once(capsys):
    from bayesmoe.cli import app

    app._shown.clear()
    blas = "PyTensor could not link to a BLAS installation.\nThis usually happens when PyTensor is installed via pip."
    for _ in range(3):
        app.show_warning(UserWarning(blas), UserWarning, "cmodule.py", 1)
    app.show_warning(UserWarning("saved by bayesmoe 0.0.1;\n  this is 0.1.0"), UserWarning, "io.py", 2)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert err[0].startswith("warning: PyTensor found no BLAS") and "Fix for" in err[0]
    assert err[1] == "warning: saved by bayesmoe 0.0.1; this is 0.1.0"


def test_progress_bars_only_on_a_terminal(capsys):
    from bayesmoe.progress import enabled, track

    assert not enabled(None)  # pytest's stderr is not a terminal
    assert list(track(range(3), "work", progress=None)) == [0, 1, 2]
    assert capsys.readouterr().err == ""
    assert list(track(range(3), "work", progress=True)) == [0, 1, 2]


def test_demo_ends_in_a_decision(tmp_path):
    code, out, _ = run("demo", "--out-dir", str(tmp_path), "--draws", "150", "--tune", "300", "--json")
    assert code == 0, out
    payload = json.loads(out[out.index("{") :])
    plan = payload["plan"]
    assert plan["budget"] == 1e23 and plan["law"] == "chinchilla"
    assert {"N", "D"} <= set(plan["decision"]) and plan["extrapolation"]["C"] > 1
    report = (tmp_path / "report.html").read_text()
    assert report.index("Plan for C = 1e+23") < report.index("<h2>Data</h2>")
    assert (tmp_path / "gadre2024-rpj-chinchilla.nc").stat().st_size > 0


def test_design_command_chooses_runs_within_the_spend(tmp_path, chinchilla_fit):
    fit_path = tmp_path / "fit.nc"
    chinchilla_fit.save(fit_path)
    grid = pd.DataFrame([{"N": n, "D": c / (6 * n)} for c in (1e19, 1e20) for n in (1e8, 1e9, 1e10)])
    grid.to_csv(tmp_path / "grid.csv", index=False)
    code, out, _ = run(
        "design", str(fit_path), "--budget", "1e23", "--candidates", str(tmp_path / "grid.csv"),
        "--spend", "2e20", "--simulations", "16", "--json",
    )  # fmt: skip
    assert code == 0, out
    d = json.loads(out[out.index("{") :])
    assert 0 < d["spent_flops"] <= 2e20 and d["target_expected_after"] < d["target_now"]
    grid[["N"]].to_csv(tmp_path / "bad.csv", index=False)
    code, out, err = run(
        "design", str(fit_path), "--budget", "1e23", "--candidates", str(tmp_path / "bad.csv"), "--spend", "2e20"
    )
    assert code != 0 and "lack input" in (out + err) and "Traceback" not in (out + err)
    code, out, err = run(
        "report", str(fit_path), "--out", str(tmp_path / "r.html"), "--candidates", str(tmp_path / "grid.csv")
    )
    assert code == 2 and "--candidates needs --budget" in (out + err) and not (tmp_path / "r.html").exists()
    code, out, _ = run(
        "report", str(fit_path), "--out", str(tmp_path / "r.html"), "--budget", "1e23",
        "--candidates", str(tmp_path / "grid.csv"), "--spend", "2e20",
    )  # fmt: skip
    assert code == 0, out
    assert "Which runs to train next" in (tmp_path / "r.html").read_text()
