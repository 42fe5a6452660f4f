import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import text_utils

def test_example():
    assert text_utils.slugify("Hello, World!") == "hello-world"

def test_runs_and_ends():
    assert text_utils.slugify("  --Prompt  Lab 2.0-- ") == "prompt-lab-2-0"

def test_shout_still_works():
    assert text_utils.slugify("a") == "a" and text_utils.shout("hi") == "HI!"
