import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
from words import top_words

def test_case_and_punctuation():
    assert top_words("b a B, a! c", 2) == [("a", 2), ("b", 2)]

def test_ties_alphabetical():
    assert top_words("z y x", 3) == [("x", 1), ("y", 1), ("z", 1)]
