"""The runs table: load a CSV/parquet/DataFrame, map columns, validate, never drop rows.

Each row is one training run: ``loss`` plus whichever standard columns (see
:mod:`bayesmoe.runs.columns`) the law needs, in raw counts (parameters, tokens, FLOPs).
Every problem is reported with the column and the rows it was found in.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.errors import RunsError
from bayesmoe.runs.columns import CANONICAL, SIZE_COLUMNS, UNITS

MAX_ROWS_SHOWN = 5
#: A loss above this (nats/token) is almost certainly a perplexity or a wrong column.
MAX_PLAUSIBLE_LOSS = 25.0


def _rows(index: pd.Index) -> str:
    shown = ", ".join(str(i) for i in list(index[:MAX_ROWS_SHOWN]))
    more = f" and {len(index) - MAX_ROWS_SHOWN} more" if len(index) > MAX_ROWS_SHOWN else ""
    return f"row{'s' if len(index) > 1 else ''} {shown}{more}"


class Runs:
    """A validated table of runs. Build it with :func:`load_runs`."""

    def __init__(
        self, df: pd.DataFrame, *, source: str = "DataFrame", synthetic: bool = False, loss_unit: str | None = None
    ):
        self.df = df
        self.source = source
        self.synthetic = synthetic
        #: what the loss column measures (nats/token unless the table says otherwise, e.g. bits/character)
        self.loss_unit = loss_unit or UNITS["loss"]

    def units(self) -> dict[str, str]:
        """Unit of every standard column, the loss's as this table measures it."""
        return UNITS | {"loss": self.loss_unit}

    def __len__(self) -> int:
        return len(self.df)

    @property
    def columns(self) -> list[str]:
        return list(self.df.columns)

    def require(
        self, inputs: Sequence[str], law_name: str = "the law", bounds: Mapping[str, Any] | None = None
    ) -> None:
        """Check that every input the law needs is present (and, for extra inputs, valid)."""
        missing = [c for c in inputs if c not in self.df.columns]
        if missing:
            what = (
                f"{law_name} needs column(s) {missing}, but the runs table ({self.source}) has {list(self.df.columns)}"
            )
            raise RunsError(
                f"{what}; map your names with columns={{'your_name': '{missing[0]}'}}",
                cli=f"{what}; map your names with --map your_name={missing[0]}",
            )
        for c in inputs:
            if c in CANONICAL:
                continue
            values = _numeric(self.df, c)
            lo, hi = (bounds or {}).get(c, (0.0, None))
            bad = self.df.index[(values <= lo) | (values > hi if hi is not None else False)]
            if len(bad):
                raise RunsError(f"column {c!r} must lie in ({lo}, {hi or 'inf'}], but not at {_rows(bad)}")

    def inputs(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {k: self.df[k].to_numpy(float) for k in names}

    def loss(self) -> np.ndarray:
        return self.df["loss"].to_numpy(float)

    def reference(self, names: Sequence[str]) -> dict[str, float]:
        """Geometric mean of each positive input (the fitter's reference scale)."""
        out = {}
        for k in names:
            v = self.df[k].to_numpy(float)
            out[k] = float(np.exp(np.mean(np.log(v)))) if np.all(v > 0) else float(np.mean(v))
        return out

    def group_codes(self, column: str) -> tuple[np.ndarray, list[str]]:
        if column not in self.df.columns:
            raise RunsError(
                f"group column {column!r} is not in the runs table ({self.source}); columns: {list(self.df.columns)}"
            )
        col = self.df[column]
        if col.isna().any():
            raise RunsError(f"group column {column!r} is empty at {_rows(self.df.index[col.isna()])}")
        codes, levels = pd.factorize(col.astype(str), sort=True)
        return codes.astype("int64"), [str(v) for v in levels]

    def subset(self, mask: Any) -> Runs:
        return Runs(
            self.df.loc[mask].reset_index(drop=True),
            source=self.source,
            synthetic=self.synthetic,
            loss_unit=self.loss_unit,
        )

    def __repr__(self) -> str:
        tag = " [synthetic]" if self.synthetic else ""
        return f"Runs({len(self)} runs from {self.source}{tag}; columns {self.columns})"

    def _repr_html_(self) -> str:
        tag = " <b>[synthetic]</b>" if self.synthetic else ""
        return f"<p>{len(self)} runs from {html.escape(self.source)}{tag}</p>" + self.df.describe().T.to_html()


def _numeric(df: pd.DataFrame, column: str) -> pd.Series:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    bad = raw.notna() & values.isna()
    if bad.any():
        sample = raw[bad].iloc[0]
        raise RunsError(f"column {column!r} has non-numeric values at {_rows(df.index[bad])} (e.g. {sample!r})")
    missing = values.isna()
    if missing.any():
        raise RunsError(f"column {column!r} has missing values (NaN) at {_rows(df.index[missing])}")
    inf = ~np.isfinite(values)
    if inf.any():
        raise RunsError(f"column {column!r} has infinite values at {_rows(df.index[inf])}")
    return values


def read_table(source: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table, with errors that name the file and what is wrong with it."""
    path = Path(source)
    if not path.exists():
        raise RunsError(f"runs file {path} does not exist")
    if path.is_dir():
        raise RunsError(f"runs file {path} is a directory; give the path of a CSV or Parquet file")
    if not path.is_file():
        raise RunsError(
            f"runs file {path} is not a regular file (a device, pipe or socket); give a CSV or Parquet file"
        )
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            sep = "\t" if name.endswith(".tsv") else ","
            header = pd.read_csv(path, sep=sep, header=None, nrows=1).iloc[0].astype(str)
            if header.duplicated().any():  # pandas would silently rename the copies to 'N.1'
                raise RunsError(
                    f"runs file {path} has duplicated column name(s) {sorted(set(header[header.duplicated()]))}"
                )
            return pd.read_csv(path, sep=sep)
    except RunsError:
        raise
    except Exception as exc:  # pandas raises many kinds for a malformed file
        raise RunsError(f"cannot read runs file {path}: {type(exc).__name__}: {exc}") from None
    raise RunsError(f"runs file {path}: unknown format (use .csv, .csv.gz, .tsv or .parquet)")


def load_runs(
    source: str | os.PathLike | pd.DataFrame | Runs,
    *,
    columns: Mapping[str, str] | None = None,
    scale: Mapping[str, float] | None = None,
    synthetic: bool | None = None,
    loss_unit: str | None = None,
) -> Runs:
    """Load and validate a runs table.

    ``columns`` maps your column names to the standard ones (``{"params": "N"}``);
    ``scale`` multiplies columns given in other units (``{"N": 1e9}`` for billions);
    ``loss_unit`` says what the loss measures where it is not nats/token (``"bits/character"``):
    results, plans and plots carry it.
    Raises :class:`~bayesmoe.errors.RunsError` naming the column and rows of any problem.
    """
    if isinstance(source, Runs):
        if loss_unit is None or loss_unit == source.loss_unit:
            return source
        return Runs(source.df, source=source.source, synthetic=source.synthetic, loss_unit=loss_unit)
    if isinstance(source, pd.DataFrame):
        df, label = source.copy(), "DataFrame"
    elif not isinstance(source, str | os.PathLike):
        raise RunsError(
            f"load_runs takes a CSV/Parquet path, a pandas DataFrame or Runs, not a {type(source).__name__}"
            + ("; wrap a mapping of columns in pd.DataFrame(...)" if isinstance(source, Mapping) else "")
        )
    else:
        df, label = read_table(source), str(source)
    if not isinstance(df.columns, pd.Index) or df.columns.duplicated().any():
        dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
        raise RunsError(f"runs table ({label}) has duplicated column name(s) {dup}")
    if columns:
        unknown = [c for c in columns if c not in df.columns]
        if unknown:
            raise RunsError(
                f"column mapping names column(s) {unknown} not in the table ({label}); it has {list(df.columns)}"
            )
        df = df.rename(columns=dict(columns))
        if df.columns.duplicated().any():
            dup = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
            raise RunsError(f"after mapping, column(s) {dup} appear twice in {label}")
    if len(df) == 0:
        raise RunsError(f"runs table ({label}) has no rows")
    if "loss" not in df.columns:
        raise RunsError(f"runs table ({label}) has no 'loss' column; columns: {list(df.columns)}")
    df = df.reset_index(drop=True)
    for c, factor in (scale or {}).items():
        if c not in df.columns:
            raise RunsError(f"scale names column {c!r}, which is not in the table ({label})")
        if not (isinstance(factor, int | float) and np.isfinite(factor) and factor > 0):
            raise RunsError(f"scale for {c!r} must be a positive number, got {factor!r}")
        df[c] = _numeric(df, c) * factor

    for c, spec in CANONICAL.items():
        if c not in df.columns:
            continue
        values = _numeric(df, c)
        df[c] = values
        lo = spec.minimum
        bad = values < lo if spec.inclusive else values <= lo
        if bad.any():
            rel = ">=" if spec.inclusive else ">"
            raise RunsError(
                f"column {c!r} ({spec.description}) must be {rel} {lo:g}, but is not at {_rows(df.index[bad])} (e.g. {values[bad].iloc[0]:g})"
            )
        if spec.maximum is not None:
            bad = values > spec.maximum
            if bad.any():
                raise RunsError(
                    f"column {c!r} ({spec.description}) must be <= {spec.maximum:g}, but is not at {_rows(df.index[bad])} (e.g. {values[bad].iloc[0]:g})"
                )
        huge = values > spec.largest_plausible
        if huge.any():
            raise RunsError(
                f"column {c!r} ({spec.description}) has implausibly large values (> {spec.largest_plausible:g} {spec.unit}) at {_rows(df.index[huge])}: a unit slip or a corrupted entry?"
            )
        small = values < spec.smallest_plausible if c in SIZE_COLUMNS else values < -np.inf
        if small.all():
            what = (
                f"column {c!r} ({spec.description}) is expected in raw {spec.unit}, but its largest value is "
                f"{values.max():g}: it looks like millions or billions"
            )
            raise RunsError(f"{what}; pass scale={{'{c}': 1e9}} (or 1e6)", cli=f"{what}; pass --scale {c}=1e9 (or 1e6)")
        if small.any():  # a unit slip in some rows only: scale cannot fix it, the rows must be corrected
            raise RunsError(
                f"column {c!r} ({spec.description}) is in raw {spec.unit} (up to {values.max():g}), but is below "
                f"{spec.smallest_plausible:g} at {_rows(df.index[small])} (e.g. {values[small].iloc[0]:g}): those rows "
                "look like millions or billions; correct them"
            )
    high = df["loss"] > MAX_PLAUSIBLE_LOSS
    if high.any():
        raise RunsError(
            f"column 'loss' is above {MAX_PLAUSIBLE_LOSS:g} nats/token at {_rows(df.index[high])}: is it a perplexity? give the log-loss"
        )
    if {"N", "N_a"} <= set(df.columns):
        bad = df["N_a"] > df["N"] * (1 + 1e-9)
        if bad.any():
            raise RunsError(f"activated parameters N_a exceed total parameters N at {_rows(df.index[bad])}")
    if {"G", "E"} <= set(df.columns):
        bad = df["G"] > df["E"]
        if bad.any():
            raise RunsError(f"activated experts G exceed total experts E at {_rows(df.index[bad])}")
    dup = df.duplicated(keep=False)
    if dup.any():
        raise RunsError(
            f"runs table ({label}) has identical duplicate rows at {_rows(df.index[dup])}; remove the copies"
        )
    if synthetic is None:
        synthetic = "source" in df.columns and bool((df["source"].astype(str) == "synthetic").all())
    return Runs(df, source=label, synthetic=synthetic, loss_unit=loss_unit)
