import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import subprocess, sys

def run(*args):
    (WS / "sample.txt").write_text("one two\nthree\nfour five six\n")
    return subprocess.run([sys.executable, "wc.py", *args], cwd=WS, capture_output=True,
                          text=True)

def test_lines_flag():
    assert run("--lines", "sample.txt").stdout.strip() == "3"

def test_flag_after_file():
    assert run("sample.txt", "--lines").stdout.strip() == "3"
