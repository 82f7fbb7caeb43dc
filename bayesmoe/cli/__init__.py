"""Command line: ``bayesmoe laws | fit | identify | demo | plan | compare | backtest | calibrate | report``.

Public surface: :func:`main` (the ``bayesmoe`` entry point). Heavy imports happen inside
each command, so ``bayesmoe --help`` stays fast.
"""

import os
import sys

if os.path.basename(sys.argv[0] or "") == "bayesmoe":  # the console script: record stops from the start
    from bayesmoe import interrupt

    interrupt.install_early()

from bayesmoe.cli import decision_commands, run_commands  # noqa: F401  (registers the commands)
from bayesmoe.cli.app import main

__all__ = ["main"]
