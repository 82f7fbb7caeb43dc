import os

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import bayesmoe as bm
from bayesmoe.errors import FitFileError


def test_save_load_round_trips_exactly(chinchilla_fit, tmp_path):
    path = tmp_path / "fit.nc"
    chinchilla_fit.save(path)
    back = bm.load(path)
    assert back.law.to_json() == chinchilla_fit.law.to_json()
    assert back.settings == chinchilla_fit.settings
    assert {k: str(v) for k, v in back.priors.items()} == {k: str(v) for k, v in chinchilla_fit.priors.items()}
    for group in ("posterior", "log_likelihood", "observed_data", "constant_data", "sample_stats"):
        a, b = getattr(chinchilla_fit.idata, group), getattr(back.idata, group)
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values)
    assert back.discrepancy == chinchilla_fit.discrepancy == "extrapolation"  # its fixed scale: constant_data
    df0, df1 = chinchilla_fit.runs.df, back.runs.df
    assert list(df0.columns) == list(df1.columns)
    for c in df0.columns:
        assert list(df0[c]) == list(df1[c])
    assert back.runs.synthetic
    assert [p for p in os.listdir(tmp_path)] == ["fit.nc"]


def test_truncated_file_is_refused(chinchilla_fit, tmp_path):
    path = tmp_path / "fit.nc"
    chinchilla_fit.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(FitFileError, match="truncated or corrupted"):
        bm.load(path)


def test_flipped_bytes_are_detected(chinchilla_fit, tmp_path):
    path = tmp_path / "fit.nc"
    chinchilla_fit.save(path)
    # change one posterior value in place, through HDF5, leaving the file readable
    import h5py

    with h5py.File(path, "r+") as h5:
        h5["posterior/alpha"][0, 0] = h5["posterior/alpha"][0, 0] + 1e-9
    with pytest.raises(FitFileError, match="checksum"):
        bm.load(path)


def test_foreign_and_missing_files_are_refused(tmp_path):
    xr.Dataset({"x": ("a", [1.0, 2.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
    with pytest.raises(FitFileError, match="not a bayesmoe fit file"):
        bm.load(tmp_path / "other.nc")
    with pytest.raises(FitFileError, match="does not exist"):
        bm.load(tmp_path / "none.nc")
    (tmp_path / "text.nc").write_text("hello")
    with pytest.raises(FitFileError, match="not a readable fit file"):
        bm.load(tmp_path / "text.nc")


def test_failed_write_leaves_no_file(chinchilla_fit, tmp_path, monkeypatch):
    path = tmp_path / "fit.nc"

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(FitFileError, match=r"cannot write .*fit\.nc: disk full$"):
        chinchilla_fit.save(path)
    assert os.listdir(tmp_path) == []
    with pytest.raises(FitFileError, match="does not exist"):
        chinchilla_fit.save(tmp_path / "no" / "dir" / "fit.nc")


def test_the_loss_unit_is_saved_and_labels_what_the_fit_gives(chinchilla_runs, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from bayesmoe.viz import plots

    farseer = bm.datasets.farseer2025()
    assert farseer.loss_unit == "bits/character" and farseer.subset(farseer.df.index < 50).loss_unit == "bits/character"
    assert bm.load_runs(farseer.df).loss_unit == "nats/token"  # a plain table: the default
    assert bm.load_runs(farseer, loss_unit="nats/token").loss_unit == "nats/token"
    pub = {"E": 0.3, "A": 40.0, "alpha": 0.3, "B": 150.0, "beta": 0.3}
    fit = bm.Fit.from_params("chinchilla", pub, runs=farseer)
    p = bm.plan(fit, 1e22)
    assert p.summary().loc["loss", "unit"] == "bits/character" and p.summary().loc["N", "unit"] == "parameters"
    assert p.decision_loss.attrs["units"] == "bits/character" == p.units()["risk_loss"]
    assert bm.predict(fit, {"N": 1e9, "D": 1e11}).attrs["units"] == "bits/character"
    assert bm.plan_sweep(fit, [1e21, 1e22])["loss"].attrs["units"] == "bits/character"
    ax = plots.plot_extrapolation(fit, [p])
    assert ax.get_ylabel() == "loss (bits/character)"
    bpc = bm.load_runs(chinchilla_runs[0], loss_unit="bits/character")
    small = bm.fit("chinchilla", bpc, draws=50, tune=100, chains=2, progressbar=False, warn=False)
    path = tmp_path / "bpc.nc"
    small.save(path)
    assert bm.load(path).runs.loss_unit == "bits/character"
    dense = bm.Fit.from_params("chinchilla", pub, runs=bm.load_runs(farseer.df))
    with pytest.raises(bm.FitError, match="measure loss alike"):
        bm.Stacked({"a": fit, "b": dense}, weights=pd.Series({"a": 0.5, "b": 0.5}))
