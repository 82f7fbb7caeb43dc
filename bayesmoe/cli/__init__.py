"""Command line: ``bayesmoe laws | fit | identify | demo | plan | compare | backtest | calibrate | report``.

Public surface: :func:`main` (the ``bayesmoe`` entry point). Heavy imports happen inside
each command, so ``bayesmoe --help`` stays fast.
"""

from bayesmoe.cli import decision_commands, run_commands  # noqa: F401  (registers the commands)
from bayesmoe.cli.app import main

__all__ = ["main"]
