import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import json

def load():
    return json.loads((WS / "top.json").read_text())

def test_names_in_order():
    assert [r["name"] for r in load()] == ["Cy", "Ben"]

def test_amounts():
    assert [r["spent"] for r in load()] == [30.5, 30.0]
