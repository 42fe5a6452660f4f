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

def test_title_first():
    nb, _ = run_notebook("report.ipynb")
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.strip() == "# Quarterly report"

def test_rest_kept_and_valid():
    nb, scope = run_notebook("report.ipynb")
    nbformat.validate(nb)
    assert [c.source for c in nb.cells[1:]] == ["x = 1", "print(x)"] and len(nb.cells) == 3
