import numpy as np
import pandas as pd
import pytest

import bayesmoe as bm
from bayesmoe.errors import RunsError


def table(**over):
    df = pd.DataFrame(
        {
            "loss": [3.1, 2.9, 2.7, 2.6],
            "N": [1e8, 2e8, 4e8, 8e8],
            "N_a": [5e7, 1e8, 2e8, 4e8],
            "D": [1e10, 2e10, 4e10, 8e10],
            "G": [1.0, 2, 4, 8],
            "E": [8.0, 8, 8, 8],
            "S": [0, 0.25, 0.5, 0.7],
        }
    )
    for k, v in over.items():
        df[k] = v
    return df


def test_valid_table_loads_and_keeps_every_row():
    runs = bm.load_runs(table())
    assert len(runs) == 4 and not runs.synthetic


@pytest.mark.parametrize(
    "over, message",
    [
        ({"loss": [3.1, np.nan, 2.7, 2.6]}, r"'loss' has missing values \(NaN\) at row 1"),
        ({"N": [1e8, np.inf, 4e8, 8e8]}, r"'N' has infinite values at row 1"),
        ({"D": [1e10, "ten", 4e10, 8e10]}, r"'D' has non-numeric values at row 1 \(e.g. 'ten'\)"),
        ({"N": [1e8, -2e8, 4e8, 0]}, r"'N' .* must be > 0, but is not at rows 1, 3"),
        ({"loss": [3.1, 0.0, 2.7, 2.6]}, r"'loss' .* must be > 0, but is not at row 1"),
        ({"N_a": [5e7, 3e8, 2e8, 4e8]}, r"N_a exceed total parameters N at row 1"),
        ({"S": [0, 1.5, 0.5, -0.1]}, r"'S' .* must be >= 0, but is not at row 3"),
        ({"S": [0, 1.5, 0.5, 0.1]}, r"'S' .* must be <= 1, but is not at row 1"),
        ({"G": [0.0, 2, 4, 8]}, r"'G' .* must be >= 1, but is not at row 0"),
        ({"G": [1.0, 2, 16, 8]}, r"G exceed total experts E at row 2"),
        (
            {"N": [0.1, 0.2, 0.4, 0.8], "N_a": [0.05, 0.1, 0.2, 0.4]},
            r"'N' .* looks like millions or billions; pass scale",
        ),
        ({"D": [10.0, 20, 40, 80]}, r"'D' .* looks like millions or billions"),
        ({"loss": [31.0, 29, 27, 26]}, r"perplexity"),
    ],
)
def test_each_validation_rule_names_column_and_rows(over, message):
    with pytest.raises(RunsError, match=message):
        bm.load_runs(table(**over))


def test_duplicate_rows_are_refused_not_dropped():
    df = pd.concat([table(), table().iloc[[2]]])
    with pytest.raises(RunsError, match="duplicate rows at rows 2, 4"):
        bm.load_runs(df)


def test_missing_loss_and_empty_and_duplicate_columns():
    with pytest.raises(RunsError, match="no 'loss' column"):
        bm.load_runs(table().drop(columns="loss"))
    with pytest.raises(RunsError, match="no rows"):
        bm.load_runs(table().iloc[:0])
    df = table()
    df.columns = ["loss", "N", "N", "D", "G", "E", "S"]
    with pytest.raises(RunsError, match="duplicated column name"):
        bm.load_runs(df)


def test_column_mapping_and_scale():
    df = table().rename(columns={"N": "params", "D": "tokens_b"})
    df["tokens_b"] = df["tokens_b"] / 1e9
    runs = bm.load_runs(df, columns={"params": "N", "tokens_b": "D"}, scale={"D": 1e9})
    np.testing.assert_allclose(runs.df["D"], table()["D"])
    with pytest.raises(RunsError, match="not in the table"):
        bm.load_runs(df, columns={"nope": "N"})
    with pytest.raises(RunsError, match="appear twice"):
        bm.load_runs(table(), columns={"N_a": "N"})


def test_missing_column_for_a_law_is_named():
    runs = bm.load_runs(table().drop(columns="D"))
    with pytest.raises(RunsError, match=r"needs column\(s\) \['D'\]"):
        bm.fit("chinchilla", runs, draws=5, tune=5)


def test_file_errors(tmp_path):
    with pytest.raises(RunsError, match="does not exist"):
        bm.load_runs(tmp_path / "none.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(RunsError, match="unknown format"):
        bm.load_runs(tmp_path / "x.json")
    table().to_csv(tmp_path / "ok.csv", index=False)
    assert len(bm.load_runs(tmp_path / "ok.csv")) == 4


def test_bundled_datasets_match_their_provenance():
    assert [len(bm.datasets.clark2022(r)) for r in ("S-Base", "RL-R", "Hash")] == [58, 59, 56]
    g = bm.datasets.gadre2024()
    assert len(g) == 104 and set(g.df["corpus"]) == {"c4_original", "rpj", "rw_original"}
