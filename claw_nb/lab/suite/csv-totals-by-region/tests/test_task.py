import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import pandas as pd

def test_columns():
    assert list(pd.read_csv(WS / "totals.csv").columns) == ["region", "total"]

def test_values():
    df = pd.read_csv(WS / "totals.csv")
    assert df.values.tolist() == [["east", 7.0], ["north", 12.5], ["south", 6.0]]
