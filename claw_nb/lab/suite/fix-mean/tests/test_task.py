import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
from stats import mean

def test_two_values():
    assert mean([2, 4]) == 3

def test_one_value():
    assert mean([5]) == 5

def test_floats():
    assert abs(mean([0.5, 1.5, 4.0]) - 2.0) < 1e-9
