import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
def test_renamed():
    names = sorted(p.name for p in (WS / "notes").iterdir())
    assert names == ["a.md", "b.md", "keep.csv"]

def test_contents_kept():
    assert (WS / "notes" / "a.md").read_text() == "alpha\n"
    assert (WS / "notes" / "b.md").read_text() == "beta\n"
