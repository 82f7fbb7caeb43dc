"""The notebooks are tutorials: prose between cells, stored outputs, no silenced warnings, and
every one runs top to bottom (with few draws) and draws at least one figure."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
SILENCING = re.compile(r"filterwarnings|simplefilter|catch_warnings|PYTHONWARNINGS")


def _images(nb):
    return [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]


def test_seven_tutorials():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_a_tutorial_with_stored_outputs(path):
    nb = nbformat.read(path, as_version=4)
    prose = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(prose) >= 5, f"{path.name}: {len(prose)} markdown cells, a tutorial needs >= 5"
    assert prose[0].source.startswith("# ") and "Question" in prose[0].source, "opens with a title and its question"
    assert any("Caveats" in c.source for c in prose), f"{path.name} states no caveats"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [c.source for c in code if SILENCING.search(c.source)], f"{path.name} silences warnings"
    # stored outputs: every code cell was executed, in order, and the figures are in the file
    counts = [c.execution_count for c in code]
    assert None not in counts and counts == sorted(counts), f"{path.name}: not executed top to bottom before commit"
    assert _images(nb), f"{path.name} has no stored figure"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.name} was stored with an error: {errors[0].get('ename')}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_draws(path, monkeypatch):
    monkeypatch.setenv("BAYESMOE_NB_DRAWS", "150")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    assert _images(nb), f"{path.name} drew no figure"
