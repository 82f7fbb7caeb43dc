"""Typed errors. Each names what is wrong and where; the CLI prints them as one line."""


class BayesMoEError(Exception):
    """Base class for every error bayesmoe raises on purpose.

    ``cli``: the same message worded for the command line, where a fix that names a Python
    argument (``columns=``, ``scale=``) names the command's option instead; the CLI prints it.
    """

    def __init__(self, *args: object, cli: str | None = None) -> None:
        super().__init__(*args)
        self.cli = cli


class RunsError(BayesMoEError, ValueError):
    """The runs table is unusable (missing column, NaN, non-positive size, ...)."""


class LawError(BayesMoEError, ValueError):
    """A law file or formula is malformed, or a law name is unknown."""


class PriorError(LawError):
    """A prior specification cannot be understood."""


class FitError(BayesMoEError, ValueError):
    """A fit cannot be set up (unknown sampler, bad group column, ...)."""


class FitFileError(BayesMoEError, OSError):
    """A saved fit is missing, truncated, corrupted, or not a bayesmoe file."""


class PlanError(BayesMoEError, ValueError):
    """A planning request cannot be answered (infeasible budget, contradictory limits, ...)."""


class SamplingWarning(UserWarning):
    """Sampling finished but its diagnostics say the posterior may not be trustworthy."""


class MissingExtraError(BayesMoEError, ImportError):
    """An optional dependency is not installed; the message names the pip extra to add."""
