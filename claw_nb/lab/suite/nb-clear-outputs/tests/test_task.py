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

def test_outputs_cleared():
    nb = nbformat.read(WS / "big.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] for c in code) and len(code) == 2

def test_counts_cleared_sources_kept():
    nb = nbformat.read(WS / "big.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is None for c in code)
    assert [c.source for c in nb.cells] == ["print('a' * 100)", "Notes", "2 + 2"]
