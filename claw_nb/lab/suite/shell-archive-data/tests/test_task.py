import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import tarfile

def test_archive():
    with tarfile.open(WS / "backup.tar.gz", "r:gz") as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert files == ["data/one.csv", "data/sub/two.csv", "data/three.txt"]

def test_count():
    assert (WS / "count.txt").read_text().strip() == "3"
