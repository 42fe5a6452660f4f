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

def test_rate():
    _, scope = run_notebook("analysis.ipynb")
    assert scope["rate"] == 0.25

def test_other_cells_kept():
    nb, scope = run_notebook("analysis.ipynb")
    assert scope["growth_rate"](50, 75) == 0.5
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]
    assert nb.cells[1].source == "old, new = 80, 100"
