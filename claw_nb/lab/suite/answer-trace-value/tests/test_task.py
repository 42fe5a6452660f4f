import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import hashlib

def test_answer():
    text = (WS / "answer.txt").read_text().strip()
    assert text == "2826"

def test_puzzle_unchanged():
    digest = hashlib.sha256((WS / "puzzle.py").read_bytes()).hexdigest()
    assert (WS / "answer.txt").is_file() and digest == 'e4f1d02a66f9a94df1a8da7bc3c1d6f20b7ae997c8afb20f65983fdc438cec60'
