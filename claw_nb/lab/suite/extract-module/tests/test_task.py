import os, pathlib
WS = pathlib.Path(os.environ['WORKSPACE'])
import ast, subprocess, sys

def test_helpers_module():
    import helpers
    assert helpers.parse_pairs(["a=1"]) == {"a": "1"}
    assert helpers.format_table({"bb": "2", "a": "1"}) == "a  | 1\nbb | 2"

def test_app_no_longer_defines_them():
    tree = ast.parse((WS / "app.py").read_text())
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert not defined & {"parse_pairs", "format_table"}
    assert (WS / "helpers.py").is_file()

def test_same_output():
    out = subprocess.run([sys.executable, "app.py", "b=2", "a=1"], cwd=WS,
                         capture_output=True, text=True).stdout
    assert out == "a | 1\nb | 2\n" and (WS / "helpers.py").is_file()
