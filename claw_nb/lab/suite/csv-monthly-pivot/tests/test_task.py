import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import pandas as pd

def test_shape_and_columns():
    df = pd.read_csv(WS / "pivot.csv")
    assert list(df.columns) == ["month", "buy", "click", "view"]

def test_counts():
    df = pd.read_csv(WS / "pivot.csv")
    assert df.values.tolist() == [["2024-01", 0, 2, 1], ["2024-02", 0, 0, 1], ["2024-03", 1, 0, 0]]
