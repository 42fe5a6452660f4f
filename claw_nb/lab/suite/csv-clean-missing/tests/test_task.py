import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import pandas as pd

def read():
    return pd.read_csv(WS / "clean.csv")

def test_names():
    assert read()["name"].tolist() == ["Alice", "Bob", "Carol"]

def test_ages_filled_with_median():
    assert read()["age"].tolist() == [30, 30, 50]

def test_columns_and_cities():
    df = read()
    assert list(df.columns) == ["name", "age", "city"] and df["city"].tolist() == ["Paris", "Rome", "Lima"]
