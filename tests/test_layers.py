"""The import graph keeps the layers honest: these fail on a forbidden import.

Data flows one way: a shell (cli/, jupyter/) calls the API, the agent runs, events flow out to
listeners. Nothing below the shells imports them; the loop does not know the LiteLLM adapter;
no module reaches into another's private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "claw_nb"
SHELLS = ("claw_nb.cli", "claw_nb.jupyter")
# `%load_ext claw_nb` and `python -m claw_nb` find their shells from the package root.
ALLOWED_SHELL_IMPORTS = {("claw_nb", "claw_nb.jupyter.magics"), ("claw_nb.__main__", "claw_nb.cli")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module, imported names, line) for every import in the file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, tuple(a.name for a in node.names), node.lineno))
    return found


def _graph() -> dict[str, list[tuple[str, tuple[str, ...], int]]]:
    return {
        _module_name(path): [i for i in _imports(path) if i[0].split(".")[0] == "claw_nb"]
        for path in sorted(PACKAGE.rglob("*.py"))
    }


GRAPH = _graph()


def _is_shell(module: str) -> bool:
    return any(module == s or module.startswith(s + ".") for s in SHELLS)


def test_the_graph_is_not_empty():
    assert len(GRAPH) > 40
    assert any(target == "claw_nb.agent" for edges in GRAPH.values() for target, _, _ in edges)


def test_nothing_below_the_shells_imports_them():
    bad = [
        f"{module}:{line} imports {target}"
        for module, edges in GRAPH.items()
        if not _is_shell(module)
        for target, _, line in edges
        if _is_shell(target) and (module, target) not in ALLOWED_SHELL_IMPORTS
    ]
    assert bad == []


def test_the_cli_and_the_notebook_do_not_import_each_other():
    bad = [
        f"{module}:{line} imports {target}"
        for module, edges in GRAPH.items()
        for target, _, line in edges
        if (module.startswith("claw_nb.cli") and target.startswith("claw_nb.jupyter"))
        or (
            module.startswith("claw_nb.jupyter")
            and target.startswith("claw_nb.cli")
            and target != "claw_nb.cli.printer"
        )  # the text view extends the plain printer
    ]
    assert bad == []


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("claw_nb.permissions", "claw_nb.agent"),
        ("claw_nb.agent", "claw_nb.model.litellm_model"),
        ("claw_nb.protocols", "claw_nb.agent"),
        ("claw_nb.errors", "claw_nb"),
        ("claw_nb.events", "claw_nb.agent"),
    ],
)
def test_layer_edges_that_must_not_exist(module, forbidden):
    edges = [t for t, _, _ in GRAPH[module]]
    if forbidden == "claw_nb":
        assert edges == [], f"{module} must import nothing from claw_nb: {edges}"
    else:
        assert forbidden not in edges


def test_the_loop_errors_live_in_errors_not_in_the_adapter():
    from claw_nb import errors
    from claw_nb.model import litellm_model

    for name in ("ModelError", "ContextLengthExceeded", "ModelUnreachable"):
        assert getattr(errors, name).__module__ == "claw_nb.errors"
        assert getattr(litellm_model, name, getattr(errors, name)) is getattr(errors, name)


def test_no_module_imports_another_modules_private_names():
    bad = []
    for module, edges in GRAPH.items():
        for target, names, line in edges:
            if target == module:
                continue
            private_names = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private_names:
                bad.append(f"{module}:{line} imports {private_names} from {target}")
            last = target.rsplit(".", 1)[-1]
            same_package = (
                target.rsplit(".", 1)[0] == module.rsplit(".", 1)[0]
                or target.rsplit(".", 1)[0] == module
            )
            if last.startswith("_") and not last.startswith("__") and not same_package:
                bad.append(f"{module}:{line} imports the private module {target}")
    assert bad == []
