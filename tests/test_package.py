"""What a new user meets: the built wheel carries every law and dataset, the README's Python
runs as written, optional extras fail with an error naming them, and a law folder with no
laws is an error."""

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import bayesmoe as bm
from bayesmoe._optional import require

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_laws_and_datasets(tmp_path):
    """Build the wheel, install it non-editable into a fresh venv, and use it from another folder."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("bayesmoe-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)  # dependencies come from here
    py = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import json, bayesmoe as bm\n"
        "loaded = {name: len(bm.datasets.load(name)) for name in bm.datasets.names()}\n"
        "print(json.dumps({'file': bm.__file__, 'laws': bm.list_laws(), 'datasets': loaded}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BAYESMOE_MODELS")}
    out = subprocess.run([str(py), "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    import json

    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert str(env_dir) in got["file"], "the test must import the installed wheel, not the checkout"
    assert got["laws"] == sorted(p.stem for p in (ROOT / "models").glob("*.toml"))
    # every bundled folder ships, and every loader reads its file from the installed package
    folders = {p.name for p in (ROOT / "data").iterdir() if (p / "README.md").is_file()}
    assert len(folders) == len(got["datasets"]) == 5, folders
    assert set(got["datasets"]) == {"clark2022", "gadre2024", "farseer2025", "muennighoff2023", "bhagia2024"}
    assert all(n > 0 for n in got["datasets"].values())


def test_readme_python_blocks_run_as_written(tmp_path):
    """Every ```python block of the README, top to bottom, in one fresh interpreter."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    script = "import matplotlib\nmatplotlib.use('Agg')\n" + "\n".join(blocks)
    env = os.environ | {"BAYESMOE_DRAWS": "100", "BAYESMOE_TUNE": "150", "BAYESMOE_CHAINS": "2", "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "clark.nc").is_file() and "decision:" in (tmp_path / "plan.yaml").read_text()


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpyro", None)  # makes "import numpyro" fail
    with pytest.raises(bm.MissingExtraError, match=r"bayesmoe\[jax\]"):
        require("numpyro", "jax", "sampler='numpyro'")
    runs = bm.datasets.clark2022("S-Base")
    with pytest.raises(bm.MissingExtraError, match=r"pip install 'bayesmoe\[jax\]'"):
        bm.fit("clark2022", runs, sampler="numpyro", draws=10, tune=10, chains=1, progressbar=False)


def test_missing_dask_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    from bayesmoe.laws.simulation import generic_design

    with pytest.raises(bm.MissingExtraError, match=r"bayesmoe\[dask\]"):
        bm.calibrate("chinchilla", generic_design("chinchilla", 10), sims=1, out_dir="unused")


def test_law_folder_without_laws_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESMOE_MODELS", str(tmp_path))
    with pytest.raises(bm.LawError, match=re.escape(str(tmp_path))):
        bm.list_laws()
    monkeypatch.setenv("BAYESMOE_MODELS", str(tmp_path / "absent"))
    with pytest.raises(bm.LawError, match="does not exist"):
        bm.list_laws()


def test_import_installs_no_warnings_filter():
    """Dependencies install their own filters on import; bayesmoe adds none on top."""
    deps = "import arviz, click, h5netcdf, matplotlib, nutpie, pandas, pydantic, pymc, scipy, sympy, xarray"
    code = (
        f"import warnings; {deps}; before = list(warnings.filters); import bayesmoe, bayesmoe.cli; "
        "print([str(f) for f in warnings.filters if f not in before])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_import_and_cli_help_stay_light():
    """Verbs load on first use: importing the package or asking the CLI for help loads no sampler stack."""
    code = (
        "import sys, bayesmoe, bayesmoe.cli\n"
        "heavy = [m for m in ('pymc', 'arviz', 'pytensor', 'sympy', 'nutpie') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert sorted(bm.__all__) == sorted(["__version__", *bm._EXPORTS])
    for name in bm.__all__:
        assert getattr(bm, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = bm.nope
    help_out = subprocess.run([sys.executable, "-m", "bayesmoe.cli", "--help"], capture_output=True, text=True)
    assert help_out.returncode == 0 and "plan" in help_out.stdout
