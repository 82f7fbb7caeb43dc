"""The ``bayesmoe`` command group and what every command shares: one-line errors, exit codes, JSON.

The commands live in :mod:`bayesmoe.cli.run_commands` (laws, fit, identify, demo) and
:mod:`bayesmoe.cli.decision_commands` (plan, compare, backtest, calibrate, report).

Exit codes: 0 success, 1 finished but diagnostics failed (with ``--strict``),
2 bad input or request, 3 internal error, 130 interrupted.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

EXIT_DIAGNOSTICS, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 1, 2, 3, 130

#: PyTensor's four-line warning when pip installed it without a BLAS, said once, with its fix.
BLAS_NOTE = (
    "PyTensor found no BLAS library (usual after a pip install), so its C-compiled matrix products are slower; "
    "the default sampler (nutpie) compiles the model with numba and does not use them. Fix for the PyMC "
    "sampler: install pytensor from conda-forge (conda/mamba/pixi), "
    "or set PYTENSOR_FLAGS=blas__ldflags=-lopenblas when an OpenBLAS is installed"
)
_shown: set[str] = set()


def show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Print a warning as one clean line on stderr (``warning: ...``), each text once per command."""
    text = str(message)
    if "could not link to a BLAS" in text:
        text = BLAS_NOTE
    text = " ".join(text.split())
    if text not in _shown:
        _shown.add(text)
        click.echo(f"warning: {text}", err=True)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def emit_json(payload: dict) -> None:
    click.echo(json.dumps(_jsonable(payload), indent=2, sort_keys=False))


class Main(click.Group):
    """Turns every expected error into one line on stderr and a stable exit code."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        import warnings

        from bayesmoe import interrupt
        from bayesmoe.errors import BayesMoEError

        previous = interrupt.install()
        shown, warnings.showwarning = warnings.showwarning, show_warning
        try:
            interrupt.check()  # a stop that arrived while the command was starting
            kwargs.pop("standalone_mode", None)
            result = super().main(*args, standalone_mode=False, **kwargs)
            interrupt.check()  # a stop swallowed by compiled code still ends as an interrupt
            return result
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:  # one line, like every other error
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _fail(f"error: {' '.join(exc.format_message().split())}{hint}", EXIT_INPUT)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _fail("", EXIT_INTERRUPTED)
        except BayesMoEError as exc:
            _fail(f"error: {exc.cli or exc}", EXIT_INPUT)
        except Exception as exc:  # last resort: still one line, no traceback
            _fail(f"internal error: {type(exc).__name__}: {exc} (please report this)", EXIT_INTERNAL)
        finally:
            warnings.showwarning = shown
            interrupt.restore(previous)


def _fail(message: str, code: int) -> None:
    """One line on stderr and the exit code; after a stop, any error is the stop's aftermath.

    A SIGTERM that lands inside compiled code (a model being compiled, say) is swallowed there
    and resurfaces as some other error; the recorded stop decides what the exit says.
    """
    from bayesmoe import interrupt

    if code == EXIT_INTERRUPTED or interrupt.stopped():
        message, code = "error: interrupted; no output file was left half-written", EXIT_INTERRUPTED
    click.echo(message, err=True)
    sys.exit(code)


def pairs(values: tuple[str, ...], what: str, cast: Any = str) -> dict[str, Any]:
    from bayesmoe.errors import BayesMoEError

    out = {}
    for v in values:
        if "=" not in v:
            raise BayesMoEError(f"{what} must look like name=value, got {v!r}")
        k, _, x = v.partition("=")
        try:
            out[k.strip()] = cast(x.strip())
        except ValueError:
            raise BayesMoEError(f"{what}: cannot read {x!r} in {v!r}") from None
    return out


def progress() -> bool:
    return sys.stderr.isatty()


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bayesmoe")
def main() -> None:
    """Bayesian scaling laws for Mixture-of-Experts language models.

    \b
    Examples:
      bayesmoe laws
      bayesmoe identify --law chinchilla --data runs.csv
      bayesmoe fit --law chinchilla --data runs.csv --out fit.nc --groups corpus
      bayesmoe demo
    """
