import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
from nested import flatten

def test_deep():
    assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]

def test_strings_stay_whole():
    assert flatten(["ab", ["cd"]]) == ["ab", "cd"]

def test_tuples():
    assert flatten([(1, (2,)), 3]) == [1, 2, 3]
