import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import nbformat

def run_notebook(name):
    nb = nbformat.read(WS / name, as_version=4)
    scope = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, name, "exec"), scope)
    return nb, scope

import sys

def test_module():
    sys.path.insert(0, str(WS))
    from cleaning import clean
    assert clean([" A ", None, "", "b"]) == ["a", "b"]

def test_notebook_uses_it():
    sys.path.insert(0, str(WS))
    nb, scope = run_notebook("explore.ipynb")
    assert scope["a"] == ["x", "y"] and scope["b"] == ["z"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert all("clean(" in s and ".strip()" not in s for s in code)
