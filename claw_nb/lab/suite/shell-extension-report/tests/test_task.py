import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import os, subprocess

def report(directory):
    return subprocess.run([str(WS / "ext_report.sh"), directory], cwd=WS,
                          capture_output=True, text=True).stdout.splitlines()

def test_sample():
    assert report("sample") == ["py 3", "md 2", "none 1"]

def test_executable_and_other_dir():
    (WS / "other").mkdir(exist_ok=True)
    (WS / "other" / "x.txt").write_text("")
    assert os.access(WS / "ext_report.sh", os.X_OK) and report("other") == ["txt 1"]
