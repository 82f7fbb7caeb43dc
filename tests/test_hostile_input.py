"""Hostile and careless input, second round: law files (size, depth, literals, constants,
look-alike names, paths), tables (per-row unit slips, special files, too few runs), output
locations and saving (checked before any sampling, never replacing a special file, stale
temporary files removed), and clean one-line errors throughout.

Each CLI case asserts one line on stderr starting with ``error:``, exit code 2, no traceback
and no file left behind. The corpus of law files is in ``tests/hostile_laws/``.
"""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayesmoe as bm
from bayesmoe.cli import main
from bayesmoe.errors import FitFileError, LawError, RunsError
from bayesmoe.files import atomic_path, check_output, remove_stale_temps
from bayesmoe.laws.law import Law

CORPUS = Path(__file__).parent / "hostile_laws"
RUNS = pd.DataFrame(
    {
        "loss": [3.1, 2.9, 2.7, 2.6, 2.5, 2.45, 2.4, 2.35],
        "N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10],
        "D": [1e10, 2e10, 4e10, 8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12],
    }
)
HEAD = 'name = "x"\ntitle = "t"\ncitation = "c"\ndescription = "d"\ninputs = ["N", "D"]\n'
PARAMS = '[params.E]\nprior = "Uniform(0.1, 5.0)"\n[params.A]\nprior = "LogNormal(5.0, 3.0)"\n'


def _one_line_error(result, *, code=2, match=None):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, (result.exit_code, result.stderr[-500:], result.stdout[-300:])
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    if match:
        assert re.search(match, lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def runs_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("runs") / "runs.csv"
    RUNS.to_csv(p, index=False)
    return p


def _identify(law, data):
    return CliRunner().invoke(main, ["identify", "--law", str(law), "--data", str(data)])


# ------------------------------------------------------------------ law files: the corpus
LOAD_REFUSED = sorted(p for p in CORPUS.glob("*.toml") if p.stem != "not_finite_anywhere")


@pytest.mark.parametrize("path", LOAD_REFUSED, ids=lambda p: p.stem)
def test_corpus_law_files_refused_at_load(path, runs_csv):
    with pytest.raises(LawError) as exc:
        Law.from_file(path)
    assert str(path) in str(exc.value)  # the message names the file
    _one_line_error(_identify(path, runs_csv))


def test_law_with_no_finite_loss_is_refused_before_sampling(runs_csv, tmp_path, monkeypatch):
    import bayesmoe.inference.fitting as fitting

    monkeypatch.setattr(fitting, "run_sampler", lambda *a, **k: pytest.fail("sampled a law with no finite loss"))
    out = tmp_path / "fit.nc"
    r = CliRunner().invoke(
        main, ["fit", "--law", str(CORPUS / "not_finite_anywhere.toml"), "--data", str(runs_csv), "--out", str(out)]
    )
    _one_line_error(r, match="no finite positive loss")
    assert not out.exists()


# ------------------------------------------------------------------ law files: generated limits
@pytest.mark.parametrize("depth", [61, 80, 200, 1000, 1990])
def test_deep_nesting_is_a_law_error(depth):
    loss = "E + A * D**0 * " + "-" * depth + "N"  # parentheses alone add no depth; unary minus does
    with pytest.raises(LawError, match=r"nested|longer"):
        Law.from_toml(HEAD + f'loss = "{loss}"\n' + PARAMS)


@pytest.mark.parametrize("n", [2, 10, 13, 20, 40])
def test_doubling_defines_stop_at_the_node_limit(n):
    defs = '[define]\nd0 = "N / D"\n' + "".join(f'd{i} = "d{i - 1} * d{i - 1}"\n' for i in range(1, n + 1))
    text = HEAD + f'loss = "E + A * d{n}"\n' + PARAMS + defs
    if 2 ** (n + 1) * 2 < 5000:
        assert Law.from_toml(text).name == "x"  # small enough: allowed
    else:
        with pytest.raises(LawError, match="nodes once definitions are inlined"):
            Law.from_toml(text)


@pytest.mark.parametrize(
    "constant",
    [
        *["1/0", "0**-1", "10**400", "1e31", "2**200", "10**10**10", "sqrt(-4)", "log(-1)", "log10(0)", "(-2)**0.5"],
        *["exp(1000)", "1" + "0" * 40, "maximum(1e30, 1e30) * 1e30", "abs(1e30) ** 2", "minimum(1, 0) ** -1"],
    ],
)
def test_bad_constants_are_law_errors(constant):
    with pytest.raises(LawError, match=r"constant part|exceeds the limit"):
        Law.from_toml(HEAD + f'loss = "E + A * N**(-0.3) * D**0 + {constant}"\n' + PARAMS)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "+nan"])
def test_non_finite_constants_and_published_values_refused(value):
    with pytest.raises(LawError, match="finite"):
        Law.from_toml(HEAD + 'loss = "E + A * N**(-c) * D**0"\n' + PARAMS + f"[constants]\nc = {value}\n")
    with pytest.raises(LawError, match="finite"):
        Law.from_toml(
            HEAD + 'loss = "E + A * N**(-0.3) * D**0"\n[params.E]\nprior = "Uniform(0.1, 5.0)"\n'
            f'published = {value}\n[params.A]\nprior = "LogNormal(5.0, 3.0)"\n'
        )


LOOKALIKES = {
    "fullwidth E": "\uff25",
    "cyrillic E": "\u0415",
    "greek Epsilon": "\u0395",
    "math italic E": "\U0001d438",
    "math bold A": "\U0001d400",
    "cyrillic a": "\u0430",
    "ligature fi": "\ufb01",
    "superscript 2 name": "E\u00b2",
    "roman numeral": "\u2160",
    "alpha": "\u03b1",
}


@pytest.mark.parametrize("name", list(LOOKALIKES.values()), ids=list(LOOKALIKES))
def test_look_alike_parameter_names_refused(name):
    text = (
        HEAD
        + f'loss = "E + A * N**(-0.3) * D**0 + {name}"\n'
        + PARAMS
        + f'[params."{name}"]\nprior = "Uniform(0, 1)"\n'
    )
    with pytest.raises(LawError, match=r"non-ASCII|look-alike|unknown name"):
        Law.from_toml(text)


@pytest.mark.parametrize(
    "name",
    [
        *["../models/chinchilla", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "..", ".", "~root", "chin chilla"],
        *["chinchilla;rm", "$HOME", "c" * 65, "", " ", "\x00", "chinchilla\n", "-chinchilla", "1law", "law.toml.bak"],
    ],
)
def test_law_names_are_names_not_paths(name, runs_csv):
    with pytest.raises(LawError):
        bm.get_law(name)
    _one_line_error(_identify(name, runs_csv))


def test_one_bad_file_in_the_law_path_is_skipped_with_a_warning(tmp_path, monkeypatch):
    (tmp_path / "broken.toml").write_text("name = ")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "evil.toml").write_text(HEAD.replace('"x"', '"evil"') + 'loss = "E + A * N * D + 1/0"\n' + PARAMS)
    monkeypatch.setenv("BAYESMOE_MODELS", str(tmp_path))
    r = CliRunner().invoke(main, ["laws"])
    assert r.exit_code == 0 and "chinchilla" in r.stdout
    warned = [line for line in r.stderr.splitlines() if line.startswith("warning: skipped law file")]
    assert len(warned) == 3 and all(str(tmp_path) in w for w in warned)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.sampled_from(
            ["N", "D", "E", "A", "1", "0", "1e30", "(", ")", "+", "-", "*", "/", "**", "log(", "sqrt(", ","]
        ),
        min_size=1,
        max_size=40,
    )
)
def test_random_formulas_load_or_raise_law_error(tokens):
    text = HEAD + f'loss = "{" ".join(tokens)}"\n' + PARAMS
    try:
        law = Law.from_toml(text)
    except LawError as exc:
        assert "\n" not in str(exc)
        return
    assert set(law.params) == {"E", "A"}


# ------------------------------------------------------------------ tables
@pytest.mark.parametrize("row", range(8))
@pytest.mark.parametrize("col,factor", [("N", 1e-9), ("N", 1e-6), ("D", 1e-9), ("D", 1e-6)])
def test_unit_slip_in_one_row_is_found(row, col, factor):
    df = RUNS.copy()
    df.loc[row, col] *= factor
    with pytest.raises(RunsError, match=f"at row {row}.*correct them"):
        bm.load_runs(df)


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/null", "/tmp", "/", "/proc"])
def test_special_files_named_as_such(path):
    with pytest.raises(RunsError, match=r"directory|not a regular file"):
        bm.load_runs(path)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_identify_is_honest_with_fewer_runs_than_parameters(n):
    runs = bm.load_runs(RUNS.iloc[:n])
    ident = bm.identifiability("chinchilla", runs)
    assert not ident.ok
    assert len(ident.weak) >= 5 - n  # at least as many unidentified combinations as missing runs


# ------------------------------------------------------------------ output locations and saving
def _fit_cli(runs_csv, out):
    return CliRunner().invoke(
        main, ["fit", "--law", "chinchilla", "--data", str(runs_csv), "--out", str(out), "--draws", "5"]
    )


@pytest.mark.parametrize(
    "out", ["{tmp}/missing/fit.nc", "{tmp}", "/dev/null", "/proc/self/fit.nc", "{tmp}/adir", "/", "{tmp}/f.txt/x.nc"]
)
def test_fit_output_checked_before_sampling(out, runs_csv, tmp_path, monkeypatch):
    import bayesmoe.inference.fitting as fitting

    (tmp_path / "adir").mkdir()
    (tmp_path / "f.txt").write_text("a file, not a folder")
    monkeypatch.setattr(fitting, "run_sampler", lambda *a, **k: pytest.fail("sampled before checking --out"))
    _one_line_error(_fit_cli(runs_csv, out.format(tmp=tmp_path)), match=r"cannot write|is a directory")


@pytest.fixture(scope="module")
def small_fit():
    runs = bm.load_runs(RUNS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        return bm.fit("chinchilla", runs, draws=20, tune=20, chains=1, progressbar=False)


@pytest.mark.parametrize(
    "target", ["", " ", "/dev/null", "/dev/zero", "/proc/self/status", "/tmp", "/nonexistent/x.nc"]
)
def test_every_save_error_is_a_fit_file_error(small_fit, target):
    with pytest.raises(FitFileError):
        small_fit.save(target)
    assert Path("/dev/null").is_char_device()  # never replaced by a regular file


def test_save_never_replaces_a_fifo(small_fit, tmp_path):
    fifo = tmp_path / "pipe.nc"
    os.mkfifo(fifo)
    with pytest.raises(FitFileError, match="not a regular file"):
        small_fit.save(fifo)
    assert fifo.is_fifo() and os.listdir(tmp_path) == ["pipe.nc"]


def test_stale_temporaries_are_removed_by_the_next_save(small_fit, tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".fit.nc.{int(dead.stdout)}.tmp"
    stale.write_bytes(b"half a file")
    mine = tmp_path / f".other.nc.{os.getpid()}.tmp"  # a live process's temporary file stays
    mine.write_bytes(b"in progress")
    small_fit.save(tmp_path / "fit.nc")
    assert not stale.exists() and mine.exists()
    assert remove_stale_temps(tmp_path) == []


def test_file_size_limit_is_a_clean_error(tmp_path):
    code = (
        "import io, resource, warnings, bayesmoe as bm, pandas as pd\n"
        f"runs = bm.load_runs(pd.read_json(io.StringIO({RUNS.to_json()!r})))\n"
        "warnings.simplefilter('ignore')\n"
        "f = bm.fit('chinchilla', runs, draws=50, tune=20, chains=1, progressbar=False)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
        "try:\n"
        f"    f.save({str(tmp_path / 'fit.nc')!r})\n"
        "except bm.FitFileError as e:\n"
        "    print('FitFileError', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "FitFileError" in r.stdout and "ulimit" in r.stdout, r.stderr[-500:]
    assert os.listdir(tmp_path) == []


def test_atomic_path_refuses_special_targets(tmp_path):
    with pytest.raises(FitFileError, match="directory"):
        check_output(tmp_path)
    with pytest.raises(FitFileError, match="empty"):
        with atomic_path(""):
            pass
    assert np.array_equal(sorted(os.listdir(tmp_path)), [])
