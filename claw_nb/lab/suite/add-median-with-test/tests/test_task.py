import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import subprocess, sys
import pytest

def test_median_odd_and_even():
    from stats import median
    assert median([5, 1, 3]) == 3 and median([1, 2, 3, 10]) == 2.5

def test_median_empty_raises():
    from stats import median
    with pytest.raises(ValueError):
        median([])

def test_the_agents_test_file_passes():
    path = WS / "test_median.py"
    assert path.is_file()
    assert path.read_text().count("def test_") >= 2
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(path)], cwd=WS, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
