"""The import graph keeps the layers honest: these fail on a forbidden import.

Data flows one way: a shell (cli/, jupyter/, acp/) calls the API, the agent runs, events flow
out to listeners. Nothing below the shells imports them; the loop does not know the LiteLLM adapter;
no module reaches into another's private names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "claw_nb"
SHELLS = ("claw_nb.cli", "claw_nb.jupyter", "claw_nb.acp")
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


def test_the_acp_shell_imports_no_other_shell():
    """`claw-nb acp` is a thin command over claw_nb.acp, never the reverse."""
    bad = [
        f"{module}:{line} imports {target}"
        for module, edges in GRAPH.items()
        if module.startswith("claw_nb.acp")
        for target, _, line in edges
        if target.startswith(("claw_nb.cli", "claw_nb.jupyter"))
    ]
    assert bad == []
    assert any(t == "claw_nb.acp.server" for t, _, _ in GRAPH["claw_nb.cli.acp"])


@pytest.mark.parametrize(
    "module, forbidden",
    [
        ("claw_nb.permissions", "claw_nb.agent"),
        ("claw_nb.agent", "claw_nb.model.litellm_model"),
        ("claw_nb.protocols", "claw_nb.agent"),
        ("claw_nb.errors", "claw_nb"),
        ("claw_nb.events", "claw_nb.agent"),
        # the loop knows the Hooks protocol, not how hook commands are run
        ("claw_nb.agent", "claw_nb.hooks"),
        ("claw_nb.hook_points", "claw_nb.hooks"),
        ("claw_nb.tool_dispatch", "claw_nb.hooks"),
    ],
)
def test_layer_edges_that_must_not_exist(module, forbidden):
    edges = [t for t, _, _ in GRAPH[module]]
    if forbidden == "claw_nb":
        assert edges == [], f"{module} must import nothing from claw_nb: {edges}"
    else:
        assert not [e for e in edges if e == forbidden or e.startswith(forbidden + ".")]


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


def _module_edges() -> dict[str, set[str]]:
    """module -> the claw_nb modules it imports (nested and TYPE_CHECKING imports included;
    `from pkg import sub` counts as an import of `pkg.sub`, not of the package)."""
    modules = set(GRAPH)

    def owner(target: str) -> str:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target

    edges: dict[str, set[str]] = {module: set() for module in GRAPH}
    for module, imports in GRAPH.items():
        for target, names, _line in imports:
            subs = {f"{target}.{n}" for n in names if f"{target}.{n}" in modules}
            edges[module] |= subs
            if len(subs) < max(len(names), 1) and owner(target) not in ("", module):
                edges[module].add(owner(target))
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_are_no_import_cycles():
    assert _cycles(_module_edges()) == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_listeners_dispatch_on_event_types_not_names():
    """Every `_on_*` handler of the printer and the widget is registered by type."""
    from claw_nb import events as ev
    from claw_nb.cli.printer import TextPrinter
    from claw_nb.jupyter.text_view import NotebookTextPrinter
    from claw_nb.jupyter.widget import WidgetTranscript

    for listener in (TextPrinter, NotebookTextPrinter, WidgetTranscript):
        named = {n for n in dir(listener) if n.startswith("_on_")}
        assert named == set(listener._handlers.values()), listener
        assert all(issubclass(kind, ev.Event) for kind in listener._handlers)
    by_name = [p for p in PACKAGE.rglob("*.py") if '"_on_" +' in p.read_text(encoding="utf-8")]
    assert by_name == []
