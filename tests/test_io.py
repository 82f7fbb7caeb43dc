import os

import numpy as np
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
