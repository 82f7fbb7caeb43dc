"""Bundled real run data (see ``data/*/README.md`` for source, commit and licence)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from bayesmoe._resources import bundled
from bayesmoe.errors import RunsError
from bayesmoe.runs.table import Runs, load_runs

#: Bundled datasets: ``data/`` in a checkout, ``bayesmoe/_bundled/data`` in an installed wheel.
DATA_DIR = bundled("data")
CLARK_PATH = DATA_DIR / "clark2022-routing" / "curves.csv.gz"
GADRE_PATH = DATA_DIR / "gadre2024-overtraining" / "gadre2024_losses_long.csv"
FARSEER_PATH = DATA_DIR / "farseer2025" / "runs.csv"
MUENNIGHOFF_PATH = DATA_DIR / "muennighoff2023-data-constrained" / "runs.csv"
BHAGIA_PATH = DATA_DIR / "bhagia2024-olmo-ladder" / "runs.csv"
#: Validation sets of the OLMo ladder (column ``loss_<set>`` in its file).
BHAGIA_VAL_SETS = (
    "c4_en",
    "dolma_books",
    "dolma_common-crawl",
    "dolma_pes2o",
    "dolma_reddit",
    "dolma_stack",
    "dolma_wiki",
    "ice",
    "m2d2_s2orc",
    "pile",
    "wikitext_103",
)
#: Tokens per optimiser step in Clark et al. 2022 (batch 256 x sequence 2048).
CLARK_TOKENS_PER_STEP = 256 * 2048
CLARK_ROUTERS = ("S-Base", "RL-R", "Hash")
GADRE_VAL_SETS = {
    "openlm": "val_tok_mult/openlm",
    "c4_val": "c4_val",
    "paloma_c4_en": "paloma_c4_en",
    "paloma_code": "paloma_dolma_100_programing_languages",
    "paloma_refinedweb": "paloma_falcon-refinedweb",
    "paloma_ptb": "paloma_ptb",
    "paloma_redpajama": "paloma_redpajama",
    "de-en": "de-en",
}


def clark2022(
    router: str | None = "S-Base",
    *,
    k: int | None = 1,
    routing_frequency: float | None = 0.5,
    seed: int | None = 42,
    include_dense: bool = True,
    final_only: bool = True,
    loss: str = "loss_validation",
) -> Runs:
    """DeepMind's routed-LM runs (Clark et al. 2022; CC-BY 4.0, (c) 2022 DeepMind).

    Defaults select the paper's fitting set: final step, k = 1, routing frequency 1/2,
    seed 42, with the dense runs as E = 1. ``router=None`` keeps every router type
    (column ``router``; dense runs are labelled ``Dense``).
    Columns: loss, N (total params), N_a (dense/activated params), E, G (= k), D (tokens).
    """
    df = _read(CLARK_PATH)
    if router is not None and router not in CLARK_ROUTERS:
        raise RunsError(f"unknown router {router!r}; the data has {CLARK_ROUTERS}")
    if loss not in df.columns or not loss.startswith("loss_"):
        raise RunsError(
            f"unknown loss column {loss!r}; choose one of {[c for c in df.columns if c.startswith('loss_')]}"
        )
    if final_only:
        df = df[df["step"] == df.groupby("hyper_id")["step"].transform("max")]
    keep = pd.Series(True, index=df.index)
    if router is not None:
        keep &= df["router_type"].isin([router, "Dense"] if include_dense else [router])
    elif not include_dense:
        keep &= df["router_type"] != "Dense"
    dense = df["router_type"] == "Dense"
    if k is not None:
        keep &= (df["k"] == k) | dense
    if routing_frequency is not None:
        keep &= (df["routing_frequency"] - routing_frequency).abs() < 1e-9
    if seed is not None:
        keep &= df["seed"] == seed
    if k is not None:  # dense runs emulate k > 1 by widening; keep the unwidened ones
        keep &= ~dense | (df["flop_increase"] == 1)
    df = df[keep & (df["step"] > 0)]
    out = pd.DataFrame(
        {
            "loss": df[loss],
            "N": df["total_parameter_count"],
            "N_a": df["dense_parameter_count"],
            "E": df["num_experts"].astype(float),
            "G": df["k"].astype(float),
            "D": df["step"].astype(float) * CLARK_TOKENS_PER_STEP,
            "router": df["router_type"],
            "model_size": df["model_size_label"],
            "hyper_id": df["hyper_id"],
            "step": df["step"],
            "seed": df["seed"],
        }
    )
    runs = load_runs(out.reset_index(drop=True))
    runs.source = f"Clark et al. 2022 routing runs ({router or 'all routers'})"
    return runs


def gadre2024(val: str = "openlm", corpus: str | None = None) -> Runs:
    """Dense over-training runs of Gadre et al. 2024 (MIT licence), one row per model.

    ``val`` picks the evaluation set (:data:`GADRE_VAL_SETS`; ``openlm`` is each corpus's
    in-distribution validation). Columns: loss, N (params incl. embeddings), D (tokens),
    corpus, name, multiplier (tokens / 20N), N_no_embed.
    """
    if val not in GADRE_VAL_SETS:
        raise RunsError(f"unknown evaluation set {val!r}; choose one of {sorted(GADRE_VAL_SETS)}")
    df = _read(GADRE_PATH)
    df = df[df["val_data"].str.contains(GADRE_VAL_SETS[val], regex=False)]
    if corpus is not None:
        if corpus not in set(df["dataset"]):
            raise RunsError(f"unknown corpus {corpus!r}; the data has {sorted(set(df['dataset']))}")
        df = df[df["dataset"] == corpus]
    out = pd.DataFrame(
        {
            "loss": df["loss"],
            "N": df["params"].astype(float),
            "D": df["tokens"].astype(float),
            "corpus": df["dataset"],
            "name": df["name"],
            "multiplier": df["chinchilla_multiplier"],
            "N_no_embed": df["params_no_embed"].astype(float),
        }
    )
    runs = load_runs(out.reset_index(drop=True))
    runs.source = f"Gadre et al. 2024 over-training runs ({val}{', ' + corpus if corpus else ''})"
    return runs


def farseer2025() -> Runs:
    """Farseer's dense N x D grid (Li et al. 2025), 411 runs, via active-sl (MIT; CC-BY-4.0 card).

    The loss is validation **bits per character**, not nats/token: irreducible losses and
    prefactors fitted to it are in BPC. Columns: loss, N, D, active_sl_split. The file holds
    four rows twice (identical N, D and loss, see its README); the copies are dropped, 407 remain.
    """
    df = _read(FARSEER_PATH).drop_duplicates(["N", "D", "loss"])
    runs = load_runs(df[["loss", "N", "D", "active_sl_split"]], loss_unit="bits/character")
    runs.source = "Farseer dense N x D grid (Li et al. 2025; loss in bits per character)"
    return runs


def muennighoff2023(*, max_epochs: float | None = None) -> Runs:
    """Data-constrained runs of Muennighoff et al. 2023 (182 runs, 1-9,000 epochs), via active-sl.

    ``max_epochs`` keeps runs with D / U_D at most that (``1`` gives the single-epoch runs that
    a law without ``U_D`` describes). Columns: loss, N, D, U_D (unique tokens), epochs,
    active_sl_split.
    """
    df = _read(MUENNIGHOFF_PATH)
    df = df.assign(epochs=df["D"] / df["U_D"])
    if max_epochs is not None:
        if not max_epochs > 0:
            raise RunsError(f"max_epochs must be positive, got {max_epochs!r}")
        df = df[df["epochs"] <= max_epochs * (1 + 1e-9)]
    runs = load_runs(df[["loss", "N", "D", "U_D", "epochs", "active_sl_split"]].reset_index(drop=True))
    runs.source = "Muennighoff et al. 2023 data-constrained runs" + (
        f" (<= {max_epochs:g} epochs)" if max_epochs else ""
    )
    return runs


def bhagia2024(val: str = "c4_en") -> Runs:
    """The OLMo 2 model ladder (Bhagia et al. 2024; Apache-2.0, Allen Institute for AI): five dense
    sizes (190M-3B) at 0.5-10x Chinchilla tokens, 25 runs, each to the end of its cosine schedule.

    ``val`` picks the validation set whose cross-entropy (nats/token) is the loss (default C4).
    Columns: loss, N, D, size, multiplier_xC.
    """
    if val not in BHAGIA_VAL_SETS:
        raise RunsError(f"unknown validation set {val!r}; the OLMo ladder has {list(BHAGIA_VAL_SETS)}")
    df = _read(BHAGIA_PATH)
    runs = load_runs(df.rename(columns={f"loss_{val}": "loss"})[["loss", "N", "D", "size", "multiplier_xC"]])
    runs.source = f"OLMo 2 model ladder (Bhagia et al. 2024), {val} validation loss"
    return runs


#: Loaders of the bundled datasets by name (see ``data/*/README.md`` for provenance).
DATASETS = {
    "clark2022": clark2022,
    "gadre2024": gadre2024,
    "farseer2025": farseer2025,
    "muennighoff2023": muennighoff2023,
    "bhagia2024": bhagia2024,
}


def names() -> list[str]:
    """Names of the bundled datasets."""
    return sorted(DATASETS)


def load(name: str, **kwargs: object) -> Runs:
    """A bundled dataset by name, e.g. ``load("clark2022", router="Hash")``."""
    if name not in DATASETS:
        raise RunsError(f"unknown dataset {name!r}; bundled datasets: {', '.join(names())}")
    return DATASETS[name](**kwargs)  # type: ignore[operator]


def _read(path: str | os.PathLike) -> pd.DataFrame:
    """Read a bundled CSV, naming the file when it is missing (e.g. a broken install)."""
    path = Path(path)
    if not path.is_file():
        raise RunsError(
            f"bundled data file {path} is missing; reinstall bayesmoe (the wheel carries data/) or run from a checkout"
        )
    return pd.read_csv(path)
