"""Save and load fits as one netCDF file, atomically, with integrity checks (no pickle).

The file holds the posterior, sampler statistics, pointwise log-likelihood, the observed
runs, the law's full spec, the priors, the sampler settings and the package version, plus
a SHA-256 checksum over every array so that a corrupted file is refused on load.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.errors import BayesMoEError, FitFileError
from bayesmoe.files import atomic_path, check_output, check_room
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.runs.table import Runs

FORMAT = "bayesmoe-fit/1"
RUNS_GROUP = "runs"
REQUIRED_GROUPS = ("posterior", "log_likelihood", "observed_data", RUNS_GROUP)
ENGINE = "h5netcdf"


def _runs_dataset(df: pd.DataFrame) -> xr.Dataset:
    data = {}
    for c in df.columns:
        col = df[c]
        if pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype="int8")
        elif pd.api.types.is_numeric_dtype(col):
            values = col.to_numpy()
        else:
            values = col.astype(str).to_numpy(dtype=object)
        data[str(c)] = ("run", values)
    return xr.Dataset(data, coords={"run": np.arange(len(df))})


def checksum(groups: dict[str, xr.Dataset], meta: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(meta):
        h.update(f"{key}={meta[key]}".encode())
    for name in sorted(groups):
        ds = groups[name]
        for var in sorted(map(str, ds.variables)):
            arr = np.asarray(ds[var].values)
            kind = "s" if arr.dtype.kind in "OUS" else arr.dtype.kind
            h.update(f"{name}/{var}/{kind}/{arr.shape}".encode())
            if kind == "s":
                h.update("\x1f".join(map(str, arr.ravel())).encode())
            else:
                h.update(np.ascontiguousarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False)).tobytes())
    return h.hexdigest()


def save_fit(fit: Any, path: str | os.PathLike) -> Path:
    """Write ``fit`` to ``path`` (netCDF4/HDF5). The file appears only once complete."""
    from bayesmoe._version import __version__

    path = check_output(path)  # before building anything: a bad location says so at once
    groups = {g: getattr(fit.idata, g) for g in fit.idata.groups() if not g.startswith("warmup_")}
    groups[RUNS_GROUP] = _runs_dataset(fit.runs.df)
    meta = {
        "format": FORMAT,
        "bayesmoe_version": __version__,
        "law": fit.law.to_json(),
        "law_hash": fit.law.spec_hash,
        "priors": json.dumps({k: str(v) for k, v in fit.priors.items()}, sort_keys=True),
        "settings": json.dumps(fit.settings, sort_keys=True),
        "groups": json.dumps(fit.groups),
        "pooled": json.dumps(list(fit.pooled)),
        "runs_source": fit.runs.source,
        "synthetic": json.dumps(bool(fit.runs.synthetic)),
        "loss_unit": fit.runs.loss_unit,
        "idata_groups": json.dumps(sorted(groups)),
    }
    meta["checksum"] = checksum(groups, meta)
    # arrays plus netCDF/HDF5 headers; measured 274 kB for 194 kB of arrays, 2.33 MB for 2.25 MB
    check_room(path, int(1.05 * sum(ds.nbytes for ds in groups.values())) + 150_000)
    failures: list[str] = []
    previous_hook = sys.unraisablehook
    # A failed HDF5 write (disk full, file-size limit) also fails in each h5py object's
    # destructor, which Python reports one traceback at a time; they are one failure, raised below.
    sys.unraisablehook = lambda info: failures.append(str(info.exc_value))
    try:
        with atomic_path(path) as tmp:
            try:
                xr.Dataset(attrs=meta).to_netcdf(tmp, mode="w", engine=ENGINE)
                for name, ds in groups.items():
                    ds = ds.copy()
                    ds.attrs = {k: v for k, v in ds.attrs.items() if isinstance(v, str | int | float)}
                    ds.to_netcdf(tmp, mode="a", group=name, engine=ENGINE)
            except (RuntimeError, ValueError) as exc:  # HDF5 reports write failures this way
                failures.insert(0, str(exc))
            if failures:
                raise FitFileError(f"cannot write {path}: {' '.join(failures[0].split())[:300]}")
    finally:
        sys.unraisablehook = previous_hook
    return path


def load_fit(path: str | os.PathLike) -> dict[str, Any]:
    """Read the parts of a fit written by :func:`save_fit` (law, runs, idata, settings, priors,
    groups, pooled), refusing truncated, corrupted or foreign files. ``bayesmoe.load`` builds
    the :class:`~bayesmoe.inference.fitting.Fit` from them."""
    try:
        return _load_fit(path)
    except BayesMoEError:
        raise
    except Exception as exc:  # any other failure while decoding means a damaged file
        raise FitFileError(f"{path} is damaged and cannot be read: {type(exc).__name__}: {str(exc)[:200]}") from None


def _load_fit(path: str | os.PathLike) -> dict[str, Any]:
    from bayesmoe._version import __version__

    path = Path(path)
    if not path.is_file():
        raise FitFileError(f"fit file {path} does not exist")
    try:
        with xr.open_dataset(path, engine=ENGINE) as root:
            meta = {k: str(v) for k, v in root.attrs.items()}
    except Exception as exc:  # h5py/xarray raise many kinds for a damaged file
        raise FitFileError(
            f"{path} is not a readable fit file (truncated or corrupted?): {type(exc).__name__}"
        ) from None
    if meta.get("format") != FORMAT:
        raise FitFileError(
            f"{path} is not a bayesmoe fit file (format {meta.get('format', 'missing')!r}, expected {FORMAT!r})"
        )
    try:
        names = json.loads(meta["idata_groups"])
        missing = [g for g in REQUIRED_GROUPS if g not in names]
        if missing:
            raise FitFileError(f"{path} lacks required group(s) {missing}")
        groups = {}
        for g in names:
            with xr.open_dataset(path, group=g, engine=ENGINE) as ds:
                groups[g] = ds.load()
        stored = meta.pop("checksum")
        if checksum(groups, meta) != stored:
            raise FitFileError(f"{path} is corrupted: its contents do not match the stored checksum")
        law = Law.from_dict(json.loads(meta["law"]), where=f"law stored in {path}")
        if law.spec_hash != meta["law_hash"]:
            raise FitFileError(f"{path}: the stored law does not match its hash")
        priors = {k: Prior.parse(v, f"prior of {k!r} in {path}") for k, v in json.loads(meta["priors"]).items()}
        settings = json.loads(meta["settings"])
        group_col = json.loads(meta["groups"])
        pooled = json.loads(meta["pooled"])
        synthetic = json.loads(meta["synthetic"])
    except FitFileError:
        raise
    except (BayesMoEError, KeyError, ValueError, OSError, TypeError) as exc:
        raise FitFileError(f"{path} is damaged or incomplete: {type(exc).__name__}: {exc}") from None
    runs_ds = groups.pop(RUNS_GROUP)
    df = pd.DataFrame({k: runs_ds[k].values for k in runs_ds.data_vars})
    if meta["bayesmoe_version"] != __version__:
        warnings.warn(f"{path} was written by bayesmoe {meta['bayesmoe_version']}, this is {__version__}", stacklevel=2)
    with warnings.catch_warnings():
        # ArviZ 0.23 announces its 1.0 refactor on every InferenceData; the schema used here is 0.x's
        warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing", category=FutureWarning)
        idata = az.InferenceData(**groups)
    # files written before the loss unit was recorded measured nats/token (the only unit then)
    runs = Runs(df, source=meta["runs_source"], synthetic=bool(synthetic), loss_unit=meta.get("loss_unit"))
    return {
        "law": law,
        "runs": runs,
        "idata": idata,
        "settings": settings,
        "priors": priors,
        "groups": group_col,
        "pooled": pooled,
    }
