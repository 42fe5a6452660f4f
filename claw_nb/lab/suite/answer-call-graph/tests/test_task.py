import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
def test_answer():
    assert (WS / "answer.txt").read_text().strip().strip("`'\"()") == "sync"
