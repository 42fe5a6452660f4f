"""Every host-side file read in claw_nb is either the confined read of `claw_nb.untrusted` or
listed here with the reason its file is trusted. A new `read_text()` / `open()` / copy on a
path the agent, a repository or a task author could have written fails this test."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "claw_nb"

# (module, function) -> why the file it reads cannot be shaped by the agent, a cloned
# repository or a task author.
TRUSTED_READS = {
    ("claw_nb/untrusted.py", "*"): "the confined, no-follow read itself",
    ("claw_nb/tools/safe_io.py", "*"): "the file tools' no-follow walk from the workspace",
    (
        "claw_nb/log/journal.py",
        "*",
    ): "journals under the user's private cache, hidden from commands",
    (
        "claw_nb/checkpoints/store.py",
        "*",
    ): "checkpoints under the user's private cache, hidden from commands",
    (
        "claw_nb/log/journal_reader.py",
        "*",
    ): "journals under the user's private cache, hidden from commands",
    (
        "claw_nb/log/database_index.py",
        "*",
    ): "the index of log databases in the same private cache, hidden from commands",
    ("claw_nb/acp/server.py", "ClawAcpAgent._open"): "AcpSession.open starts a session: no file",
    ("claw_nb/sandbox/_reaper.py", "*"): "/proc and the command's cgroup",
    ("claw_nb/sandbox/cgroups.py", "*"): "/proc and cgroupfs",
    ("claw_nb/sandbox/limits.py", "*"): "/proc/loadavg",
    ("claw_nb/sandbox/process.py", "children"): "/proc",
    ("claw_nb/sandbox/_server.py", "*"): "/dev/null and /proc, inside the sandbox",
    ("claw_nb/sandbox/session.py", "SandboxSession.host_pid"): "/proc",
    ("claw_nb/sandbox/session.py", "SandboxSession.mount_table"): "/proc",
    ("claw_nb/sandbox/server_channel.py", "server_source"): "_server.py, packaged with claw_nb",
    ("claw_nb/sandbox/server_channel.py", "current_umask"): "/proc",
    ("claw_nb/sandbox/exposure.py", "real_path"): "opens O_PATH to read the path back: no data",
    ("claw_nb/realpaths.py", "realpath"): "opens O_PATH to read the path back: no data",
    ("claw_nb/sandbox/capture.py", "OutputLog._open"): "creates a new file, O_EXCL|O_NOFOLLOW",
    ("claw_nb/context/tokenizers.py", "*"): "tiktoken files bundled with claw_nb",
    ("claw_nb/model/catalog.py", "*"): "LiteLLM's own price list, from its package",
    ("claw_nb/model/embedded.py", "*"): "the embedded server's log in the user's cache",
    (
        "claw_nb/model/gguf.py",
        "read_metadata",
    ): "a GGUF of the user's models folder or the bundled one",
    ("claw_nb/testing/server.py", "main"): "the test server's script, named by the test",
    ("claw_nb/jupyter/page_scripts.py", "_source"): "a script packaged with claw_nb",
    (
        "claw_nb/jupyter/lab_extension.py",
        "link",
    ): "the labextensions folder of the environment the user names",
    (
        "claw_nb/tools/notebook/kernel_session.py",
        "*",
    ): "Jupyter's runtime folder, hidden from commands",
    ("claw_nb/tools/search.py", "grep"): "opens the descriptor safe_io.open_regular returned",
    ("claw_nb/prompts/__init__.py", "template_text"): (
        "a prompt file the user names outside the workspace, or a packaged one; inside the "
        "workspace it goes through read_untrusted_text"
    ),
    (
        "claw_nb/lab/optimize/command_words.py",
        "parse_fragment",
    ): "a file the user names on the command line",
    ("claw_nb/lab/optimize/command_words.py", "read_split"): "a split file the user names",
    ("claw_nb/lab/external_agent.py", "run_external_agent.on_stop"): (
        "creates the stop file with O_NOFOLLOW (a link the agent planted is not followed); "
        "reads nothing"
    ),
    ("claw_nb/lab/external_agent.py", "run_external_agent"): "the launcher bundled with claw_nb",
    ("claw_nb/lab/variants.py", "agent_variant"): "a ready agent variant bundled with claw_nb",
    ("claw_nb/lab/command.py", "parse_variant"): "a variant file the user names",
    ("claw_nb/lab/runner.py", "_variants"): "variant files the user names",
    ("claw_nb/lab/variants.py", "Variant.from_file"): "a variant file the user names",
    ("claw_nb/lab/trials.py", "read_journals"): "journals under the user's private cache",
    ("claw_nb/lab/executors.py", "*"): "tar archives built in memory from a checked task",
    ("claw_nb/lab/verify.py", "run_verifier"): "the verifier's launcher, packaged with claw_nb",
    ("claw_nb/claw_dir.py", "ensure_claw_dir"): "creates .claw/.gitignore: O_EXCL|O_NOFOLLOW",
}


def _reads(path: Path) -> list[tuple[str, str, int]]:
    """(enclosing function, call, line) for every call that opens, reads or copies a file."""
    found: list[tuple[str, str, int]] = []
    stack: list[str] = []

    class Visitor(ast.NodeVisitor):
        def _scope(self, node: ast.AST, name: str) -> None:
            stack.append(name)
            self.generic_visit(node)
            stack.pop()

        def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
            self._scope(node, node.name)

        def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
            self._scope(node, node.name)

        def visit_ClassDef(self, node: ast.ClassDef) -> None:
            self._scope(node, node.name)

        def visit_Call(self, node: ast.Call) -> None:
            f = node.func
            name = None
            if isinstance(f, ast.Name) and f.id == "open":
                name = "open"
            elif isinstance(f, ast.Attribute):
                base = ast.unparse(f.value)
                if f.attr in ("read_text", "read_bytes", "open", "from_file"):
                    name = f"{base}.{f.attr}"
                elif f.attr == "load" and base in ("json", "tomllib", "yaml", "pickle"):
                    name = f"{base}.load"
                elif base == "shutil" and f.attr.startswith("copy"):
                    name = f"shutil.{f.attr}"
                elif base == "nbformat" and f.attr == "read":
                    name = "nbformat.read"
            if name:
                found.append((".".join(stack) or "<module>", name, node.lineno))
            self.generic_visit(node)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _module_files() -> list[Path]:
    # the built-in task suite's own tests run inside the verifier, not in the host process
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "suite" not in p.relative_to(PACKAGE).parts]


def test_every_host_read_is_confined_or_listed_as_trusted():
    unlisted = []
    for path in _module_files():
        module = path.relative_to(PACKAGE.parent).as_posix()
        for function, call, line in _reads(path):
            if (module, "*") in TRUSTED_READS or (module, function) in TRUSTED_READS:
                continue
            unlisted.append(f"{module}:{line} {function}() calls {call}")
    assert unlisted == [], (
        "read files others could have written through claw_nb.untrusted, or list the reason "
        "they are trusted in TRUSTED_READS"
    )


def test_every_trusted_entry_is_still_needed():
    used = set()
    for path in _module_files():
        module = path.relative_to(PACKAGE.parent).as_posix()
        for function, _call, _line in _reads(path):
            used |= {(module, "*"), (module, function)}
    assert sorted(set(TRUSTED_READS) - used) == []


def test_the_scan_finds_a_plain_read(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def memory(ws):\n    return (ws / 'CLAW.md').read_text()\n")
    assert _reads(probe) == [("memory", "ws / 'CLAW.md'.read_text", 2)]
