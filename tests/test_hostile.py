"""Hostile inputs: hundreds of generated bad tables, law files and saved fits through the CLI.

Every case must end in exactly one line on stderr starting with 'error:', exit code 2, no
traceback, and no output file (complete or partial) left behind.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesmoe.cli import main

BASE = pd.DataFrame(
    {
        "loss": [3.1, 2.9, 2.7, 2.6, 2.5, 2.45, 2.4, 2.35],
        "N": [1e8, 2e8, 4e8, 8e8, 1.6e9, 3.2e9, 6.4e9, 1.28e10],
        "D": [1e10, 2e10, 4e10, 8e10, 1.6e11, 3.2e11, 6.4e11, 1.28e12],
    }
)

BAD_VALUES = [np.nan, np.inf, -np.inf, -1.0, 0.0, "abc", "", "1e9 tokens", 1e300, -1e-300]


def _assert_clean_error(result, out):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.stdout[-300:])
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists() and not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


def _run_fit(tmp_path, df=None, law="chinchilla", raw=None):
    data = tmp_path / "runs.csv"
    if raw is not None:
        data.write_bytes(raw)
    else:
        df.to_csv(data, index=False)
    out = tmp_path / "fit.nc"
    r = CliRunner().invoke(
        main,
        ["fit", "--law", law, "--data", str(data), "--out", str(out), "--draws", "5", "--tune", "5", "--chains", "1"],
    )
    return r, out


mutation = st.one_of(
    st.tuples(st.just("cell"), st.sampled_from(["loss", "N", "D"]), st.integers(0, 7), st.sampled_from(BAD_VALUES)),
    st.tuples(st.just("drop"), st.sampled_from(["loss", "N", "D"]), st.just(0), st.just(None)),
    st.tuples(st.just("billions"), st.sampled_from(["N", "D"]), st.just(0), st.sampled_from([1e-9, 1e-6, 1e-12])),
    st.tuples(st.just("dup_row"), st.just(""), st.integers(0, 7), st.just(None)),
    st.tuples(st.just("dup_col"), st.sampled_from(["N", "D", "loss"]), st.just(0), st.just(None)),
    st.tuples(st.just("perplexity"), st.just("loss"), st.just(0), st.sampled_from([20.0, 100.0])),
    st.tuples(st.just("rows"), st.just(""), st.integers(0, 5), st.just(None)),  # 0-5 rows: fewer than 6 unknowns
    st.tuples(st.just("constant"), st.just(""), st.just(0), st.just(None)),
)


def _mutate(kind, col, row, value):
    df = BASE.copy().astype(object)
    if kind == "cell":
        df.loc[row, col] = value
    elif kind == "drop":
        df = df.drop(columns=col)
    elif kind == "billions":
        df[col] = df[col].astype(float) * value
    elif kind == "dup_row":
        df = pd.concat([df, df.iloc[[row]]], ignore_index=True)
    elif kind == "dup_col":
        df[col + "_copy"] = df[col]
        df = df.rename(columns={col + "_copy": col})
    elif kind == "perplexity":
        df["loss"] = df["loss"].astype(float) * value
    elif kind == "rows":
        df = df.iloc[:row]  # too few runs (0 rows: header only)
    elif kind == "constant":
        df["N"], df["D"] = 1e9, 1e11
    return df


@settings(max_examples=160, deadline=None, suppress_health_check=list(HealthCheck))
@given(m=mutation)
def test_generated_bad_tables(tmp_path_factory, m):
    tmp = tmp_path_factory.mktemp("t")
    r, out = _run_fit(tmp, _mutate(*m))
    _assert_clean_error(r, out)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.binary(min_size=0, max_size=300))
def test_garbage_files(tmp_path_factory, raw):
    tmp = tmp_path_factory.mktemp("g")
    r, out = _run_fit(tmp, raw=raw)
    _assert_clean_error(r, out)


LAW_TEXTS = st.one_of(
    st.sampled_from(
        [
            'name = "x"\ncitation = "c"\ninputs = ["N"]\nloss = "__import__(\'os\').system(\'touch /tmp/pwned\')"\n[params.a]\nprior = "Normal(0, 1)"',
            'name = "x"\ncitation = "c"\ninputs = ["N"]\nloss = "a.__class__.__bases__"\n[params.a]\nprior = "Normal(0, 1)"',
            'name = "x"\ncitation = "c"\ninputs = ["N"]\nloss = "a * N"\n[params.a]\nprior = "exec(\'1\')"',
            'name = "x"\ncitation = "c"\ninputs = ["N"]\nloss = "[a for a in N]"\n[params.a]\nprior = "Normal(0, 1)"',
            'name = "x"\ncitation = "c"\ninputs = ["N"]\nloss = "a * N"',
            "name = 5",
            "[[[",
        ]
    ),
    st.text(max_size=200),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=LAW_TEXTS)
def test_malformed_law_files(tmp_path_factory, text):
    tmp = tmp_path_factory.mktemp("l")
    law = tmp / "law.toml"
    law.write_text(text)
    r, out = _run_fit(tmp, BASE, law=str(law))
    _assert_clean_error(r, out)
    assert not os.path.exists("/tmp/pwned")


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    name=st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=30).filter(
        lambda s: not s.endswith(".toml")
    )
)
def test_unknown_law_names(tmp_path_factory, name):
    tmp = tmp_path_factory.mktemp("u")
    r, out = _run_fit(tmp, BASE, law=name)
    _assert_clean_error(r, out)


@pytest.fixture(scope="module")
def saved_fit(tmp_path_factory, chinchilla_fit):
    path = tmp_path_factory.mktemp("s") / "fit.nc"
    chinchilla_fit.save(path)
    return path.read_bytes()


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(cut=st.floats(0.0, 0.999), flip=st.booleans())
def test_truncated_or_corrupted_fits(tmp_path_factory, saved_fit, cut, flip):
    tmp = tmp_path_factory.mktemp("c")
    path = tmp / "fit.nc"
    data = bytearray(saved_fit[: int(len(saved_fit) * cut)] if not flip else saved_fit)
    if flip:
        i = int(len(data) * cut)
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    out = tmp / "report.html"
    r = CliRunner().invoke(main, ["report", str(path), "--out", str(out)])
    if flip and r.exit_code == 0:
        return  # a flipped padding byte that HDF5 never reads leaves the content intact (checksum verified)
    _assert_clean_error(r, out)


def test_sigterm_during_fit_leaves_no_file(tmp_path):
    data = tmp_path / "runs.csv"
    big = pd.concat(
        [BASE.assign(loss=BASE["loss"] * (1 + 0.001 * i), N=BASE["N"] * (1 + i / 100)) for i in range(20)],
        ignore_index=True,
    )
    big.to_csv(data, index=False)
    out = tmp_path / "fit.nc"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bayesmoe.cli",
            "fit",
            "--law",
            "chinchilla",
            "--data",
            str(data),
            "--out",
            str(out),
            "--draws",
            "100000",
            "--tune",
            "1000",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(12)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert os.listdir(tmp_path) == ["runs.csv"]


def test_stop_flag_blocks_atomic_commit(tmp_path):
    from bayesmoe import interrupt
    from bayesmoe.files import atomic_path

    out = tmp_path / "out.txt"
    interrupt._requested.set()
    try:
        with pytest.raises(KeyboardInterrupt), atomic_path(out) as tmp:
            tmp.write_text("complete but unwanted")
    finally:
        interrupt._requested.clear()
    assert os.listdir(tmp_path) == []


def test_error_after_a_stop_exits_as_interrupted(capsys):
    """A stop swallowed by compiled code can resurface as another error (a half-compiled model);
    the CLI reports the stop, not that error."""
    from bayesmoe import interrupt
    from bayesmoe.cli.app import _fail

    interrupt._requested.set()
    try:
        with pytest.raises(SystemExit) as exc:
            _fail("error: sampling 'chinchilla' failed (RuntimeError: no compiled object yet)", 2)
    finally:
        interrupt._requested.clear()
    assert exc.value.code == 130 and "interrupted" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _fail("error: bad input", 2)
    assert exc.value.code == 2 and capsys.readouterr().err.strip() == "error: bad input"


SWALLOWED = """
import signal, sys, time
from pathlib import Path
from bayesmoe import interrupt
from bayesmoe.files import atomic_path

interrupt.install()
class Swallow:
    def __del__(self):
        signal.raise_signal(signal.SIGTERM)  # delivered inside __del__: the KeyboardInterrupt is swallowed
Swallow()
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_text("partial")
    time.sleep(60)  # work that goes on because the stop was swallowed
"""


def test_swallowed_stop_still_ends_promptly_and_cleanly(tmp_path):
    out = tmp_path / "out.txt"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", SWALLOWED, str(out)], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 130, proc.stderr
    assert time.perf_counter() - t0 < 40
    assert "interrupted" in proc.stderr and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == []
