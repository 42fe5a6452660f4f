import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
from fizzbuzz import fizzbuzz

def test_fifteen():
    assert fizzbuzz(15) == "FizzBuzz"

def test_thirty_and_others():
    assert [fizzbuzz(i) for i in (30, 3, 5, 7)] == ["FizzBuzz", "Fizz", "Buzz", "7"]
