"""The standard run-table columns, named as the papers write them. Defined once, here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    description: str
    unit: str
    minimum: float  # exclusive for sizes (must be > 0), inclusive for shares and counts
    maximum: float | None = None
    inclusive: bool = False
    smallest_plausible: float = 0.0  # below this a size column is probably in millions/billions
    largest_plausible: float = float("inf")  # above this a value is a unit slip or a corrupted entry


CANONICAL: dict[str, Column] = {
    "loss": Column("training/validation loss", "nats/token", 0.0),
    "N": Column("total parameters (all experts)", "parameters", 0.0, smallest_plausible=1e5, largest_plausible=1e16),
    "N_a": Column("activated parameters per token", "parameters", 0.0, smallest_plausible=1e5, largest_plausible=1e16),
    "D": Column("training tokens", "tokens", 0.0, smallest_plausible=1e7, largest_plausible=1e17),
    "G": Column("activated (routed) experts per token", "experts", 1.0, inclusive=True, largest_plausible=1e5),
    "S": Column("share of shared experts among activated experts", "fraction", 0.0, 1.0, inclusive=True),
    "E": Column("total experts per MoE layer", "experts", 1.0, inclusive=True, largest_plausible=1e6),
    "C": Column("training compute", "FLOPs", 0.0, smallest_plausible=1e10, largest_plausible=1e32),
    "M": Column("training FLOPs per token", "FLOPs/token", 0.0, smallest_plausible=1e4, largest_plausible=1e17),
}
SIZE_COLUMNS = [k for k, c in CANONICAL.items() if c.smallest_plausible > 0]
UNITS = {k: c.unit for k, c in CANONICAL.items()}
