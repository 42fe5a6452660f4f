import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
def test_listing():
    lines = (WS / "todo.txt").read_text().split()
    assert lines == ["src/app.py", "src/lib/io.py"]
