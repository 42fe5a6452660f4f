"""Tasks the lab measures: Harbor's task-directory layout, read by our own code (no Docker).

A task directory::

    <name>/instruction.md      what the agent is told
    <name>/task.toml           [metadata] difficulty, tags; [agent] timeout_sec; [verifier] timeout_sec
    <name>/environment/        files copied into a fresh workspace
    <name>/solution/solve.sh   the oracle: a correct solution (run in the workspace)
    <name>/tests/test.sh       run after the agent stops, in the sandbox with no network; writes a
                               reward 0..1 to $REWARD_DIR/reward.txt

Tasks also come inline (a dict, a list of dicts, or JSON/YAML text or file with the same keys
plus ``files``, ``solution`` and ``test``) and as SWE-bench-style instance dicts; those are
written out as task directories under a cache folder, so every task runs the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from claw_nb.errors import TaskError
from claw_nb.lab.task_rules import (
    CEILINGS,
    check_config,
    check_links,
    check_name,
    check_number,
    check_relative,
)
from claw_nb.records import record
from claw_nb.untrusted import (
    UntrustedPathRefused,
    is_link_out,
    read_untrusted_text,
    walk_untrusted,
)

DIFFICULTIES = ("easy", "medium", "hard")
DEFAULT_AGENT_TIMEOUT = 600.0
DEFAULT_VERIFIER_TIMEOUT = 120.0
MAX_TEXT_BYTES = 1024 * 1024  # instruction.md, task.toml, an inline or SWE-bench file


@record(frozen=True)
class Task:
    """One task: what the agent is told, how hard it is, and where its files live."""

    name: str
    instruction: str
    difficulty: str = "medium"
    tags: tuple[str, ...] = ()
    path: Path | None = None  # the task directory (Harbor layout)
    agent_timeout_sec: float = DEFAULT_AGENT_TIMEOUT
    verifier_timeout_sec: float = DEFAULT_VERIFIER_TIMEOUT

    @property
    def environment(self) -> Path | None:
        return self.path / "environment" if self.path else None

    @property
    def tests(self) -> Path | None:
        return self.path / "tests" if self.path else None

    @property
    def solution(self) -> Path | None:
        return self.path / "solution" / "solve.sh" if self.path else None


def builtin_suite() -> list[Task]:
    """The suite shipped in the package (``claw_nb/lab/suite``)."""
    root = resources.files("claw_nb.lab").joinpath("suite")
    return load_task_root(Path(str(root)))


def load_tasks(source: str | os.PathLike[str] | list | dict) -> list[Task]:
    """Tasks from ``"builtin"``, a task directory, a folder of them, a JSON/YAML file or text,
    an inline dict or list of dicts, or SWE-bench-style instance dicts."""
    if isinstance(source, Mapping):
        return [_from_mapping(source)]
    if isinstance(source, (list, tuple)):
        out: list[Task] = []
        for item in source:
            out.extend(load_tasks(item))
        return out
    if isinstance(source, Task):
        return [source]
    text = os.fspath(source)
    if text == "builtin":
        return builtin_suite()
    if text.lstrip().startswith(("{", "[")):
        return load_tasks(json.loads(text))
    path = Path(text).expanduser()
    if path.is_file() and path.suffix in (".json", ".yaml", ".yml"):
        data = read_untrusted_text(path.parent, path.name, max_bytes=16 * MAX_TEXT_BYTES)
        return load_tasks(_parse_data(data or "", path.suffix))
    if (path / "instruction.md").is_file():
        return [load_task_dir(path)]
    if path.is_dir():
        tasks = load_task_root(path)
        if tasks:
            return tasks
        raise TaskError(f"{path} holds no task directories (each needs an instruction.md)")
    if "\n" in text and ":" in text:  # YAML text
        return load_tasks(_parse_data(text, ".yaml"))
    raise TaskError(
        f"no tasks at {text!r}: give 'builtin', a task directory, a folder of "
        "them, or a JSON/YAML file"
    )


def load_task_root(root: Path) -> list[Task]:
    """Every task directory directly under ``root``, by name (a link to a folder elsewhere
    is refused: the suite is what is inside ``root``)."""
    tasks = []
    for p in sorted(root.iterdir()):
        if not (p.is_dir() and (p / "instruction.md").is_file()):
            continue
        if is_link_out(root, p.name):
            raise TaskError(f"{p} is a link out of {root}; a suite's tasks must be inside it")
        tasks.append(load_task_dir(p))
    return tasks


def load_task_dir(path: Path) -> Task:
    """One task directory in Harbor's layout, refused (`TaskError`) when it breaks a rule of
    `claw_nb.lab.task_rules` (a link out of it, a number out of range)."""
    path = Path(path)
    check_links(path)
    try:
        instruction = _read_text(path, "instruction.md")
        toml_text = _read_text(path, "task.toml")
    except UntrustedPathRefused as exc:
        raise TaskError(f"task {path.name}: {exc}") from None
    if instruction is None:
        raise TaskError(f"{path} has no instruction.md")
    instruction = instruction.strip()
    config: dict[str, Any] = {}
    if toml_text is not None:
        try:
            config = tomllib.loads(toml_text)
        except tomllib.TOMLDecodeError as exc:
            raise TaskError(f"{path / 'task.toml'}: {exc}") from None
        check_config(config, f"{path.name}/task.toml")
    meta = config.get("metadata", {})
    difficulty = str(meta.get("difficulty", "medium"))
    if difficulty not in DIFFICULTIES:
        raise TaskError(
            f"{path}: difficulty must be one of {', '.join(DIFFICULTIES)}, not {difficulty!r}"
        )
    if not (path / "tests" / "test.sh").is_file():
        raise TaskError(f"{path} has no tests/test.sh: every task needs a verifier")
    return Task(
        name=path.name,
        instruction=instruction,
        difficulty=difficulty,
        tags=tuple(str(t) for t in meta.get("tags", ())),
        path=path,
        agent_timeout_sec=float(config.get("agent", {}).get("timeout_sec", DEFAULT_AGENT_TIMEOUT)),
        verifier_timeout_sec=float(
            config.get("verifier", {}).get("timeout_sec", DEFAULT_VERIFIER_TIMEOUT)
        ),
    )


def _read_text(task_dir: Path, name: str) -> str | None:
    text = read_untrusted_text(task_dir, name, max_bytes=MAX_TEXT_BYTES + 1)
    if text is not None and len(text.encode()) > MAX_TEXT_BYTES:
        raise TaskError(f"{task_dir / name} is larger than {MAX_TEXT_BYTES} bytes")
    return text


def _parse_data(text: str, suffix: str) -> Any:
    if suffix == ".json":
        return json.loads(text)
    try:
        import yaml
    except ImportError:
        raise TaskError("YAML tasks need PyYAML (pip install pyyaml); or give JSON") from None
    return yaml.safe_load(text)


# -- inline and SWE-bench forms, written out as task directories -----------------------------------


def _from_mapping(data: Mapping[str, Any]) -> Task:
    if "instance_id" in data and "problem_statement" in data:
        return from_swebench(data)
    missing = {"name", "instruction", "test"} - set(data)
    if missing:
        raise TaskError(
            f"an inline task needs {', '.join(sorted(missing))} "
            f"(it has {', '.join(sorted(data)) or 'nothing'})"
        )
    name = check_name(data["name"])
    files = _files(data.get("files"), f"task {name}: a 'files' entry")
    test_files = {"test.sh": str(data["test"])}
    test_files.update(_files(data.get("test_files"), f"task {name}: a 'test_files' entry"))
    toml = _task_toml(
        str(data.get("difficulty", "medium")),
        data.get("tags", ()),
        _timeout(data, "agent_timeout_sec", "agent"),
        _timeout(data, "verifier_timeout_sec", "verifier"),
    )
    return _write_task(
        name, str(data["instruction"]), toml, files, test_files, data.get("solution")
    )


def _files(value: Any, what: str) -> dict[str, str]:
    """An inline task's ``{path: text}``, every path checked before anything is written."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TaskError(f"{what.rsplit(':', 1)[0]}: files must map relative paths to text")
    return {check_relative(k, what): str(v) for k, v in value.items()}


def _timeout(data: Mapping[str, Any], key: str, table: str) -> float | None:
    if data.get(key) is None:
        return None
    return check_number(data[key], f"task {data['name']}: {key}", CEILINGS[(table, "timeout_sec")])


def from_swebench(instance: Mapping[str, Any]) -> Task:
    """A SWE-bench-style instance as a task: the repository files (``files``, or a checkout
    at ``repo_path``) with ``test_patch`` applied by the verifier, which runs the tests named in
    ``FAIL_TO_PASS`` and ``PASS_TO_PASS``; the reward is the share of them that pass. The
    oracle applies ``patch``. No network: the repository must be given, never cloned."""
    name = check_name(str(instance["instance_id"]).replace("/", "__"))
    files = _files(instance.get("files"), f"SWE-bench instance {name}: a 'files' entry")
    if not files and instance.get("repo_path"):
        files = _checkout_files(Path(str(instance["repo_path"])))
    if not files:
        raise TaskError(
            f"SWE-bench instance {name}: give its repository as 'files' "
            "(path -> text) or 'repo_path'; the lab never clones"
        )
    tests = _test_ids(instance.get("FAIL_TO_PASS")) + _test_ids(instance.get("PASS_TO_PASS"))
    test_files = {
        "test.patch": str(instance.get("test_patch") or ""),
        "test.sh": _SWEBENCH_TEST.replace("@TESTS@", " ".join(shlex.quote(t) for t in tests)),
    }
    solution = None
    if instance.get("patch"):
        solution = (
            "cat > .lab_oracle.patch <<'CLAW_PATCH'\n"
            + str(instance["patch"])
            + "\nCLAW_PATCH\ngit apply .lab_oracle.patch 2>/dev/null || "
            "patch -p1 < .lab_oracle.patch\nrm -f .lab_oracle.patch\n"
        )
    toml = _task_toml(str(instance.get("difficulty", "medium")), ("swe-bench",), None, None)
    return _write_task(name, str(instance["problem_statement"]), toml, files, test_files, solution)


def _checkout_files(root: Path) -> dict[str, str]:
    """The text of every file of a checkout (not .git), read without following a link."""
    out = {}
    try:
        for rel, kind in walk_untrusted(root):
            if kind == "file" and ".git" not in rel.split("/"):
                out[rel] = read_untrusted_text(root, rel, max_bytes=MAX_TEXT_BYTES) or ""
    except UntrustedPathRefused as exc:
        raise TaskError(f"repo_path {root}: {exc}") from None
    return out


def _test_ids(value: Any) -> list[str]:
    if isinstance(value, str):
        value = json.loads(value) if value.strip().startswith("[") else [value]
    return [str(v) for v in (value or [])]


_SWEBENCH_TEST = """#!/usr/bin/env bash
# SWE-bench verifier: apply the test patch, run the named tests, reward = share passed.
cd "$WORKSPACE"
if [ -s "$TESTS_DIR/test.patch" ]; then
  git apply "$TESTS_DIR/test.patch" 2>/dev/null || patch -p1 < "$TESTS_DIR/test.patch" >/dev/null
fi
"$PYTHON" -m pytest -q -p no:cacheprovider --junitxml="$REWARD_DIR/junit.xml" @TESTS@
"$PYTHON" - "$REWARD_DIR" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
out = pathlib.Path(sys.argv[1])
try:
    root = ET.parse(out / "junit.xml").getroot()
except (OSError, ET.ParseError):
    root = None
suite = root if root is None or root.tag == "testsuite" else root.find("testsuite")
total = int(suite.get("tests", 0)) if suite is not None else 0
bad = sum(int(suite.get(k, 0)) for k in ("failures", "errors", "skipped")) if total else 0
(out / "reward.txt").write_text(f"{(total - bad) / total if total else 0:.4f}\\n")
PY
"""


def _task_toml(difficulty: str, tags: Any, agent: Any, verifier: Any) -> str:
    lines = [
        "[metadata]",
        f"difficulty = {json.dumps(difficulty)}",
        f"tags = {json.dumps([str(t) for t in tags])}",
    ]
    if agent is not None:
        lines += ["[agent]", f"timeout_sec = {float(agent)}"]
    if verifier is not None:
        lines += ["[verifier]", f"timeout_sec = {float(verifier)}"]
    return "\n".join(lines) + "\n"


def _write_task(
    name: str,
    instruction: str,
    toml: str,
    files: Mapping[str, str],
    test_files: Mapping[str, str],
    solution: str | None,
) -> Task:
    """Write a task directory under the cache (named by its content, so it is reused)."""
    content = json.dumps(
        [name, instruction, toml, sorted(files.items()), sorted(test_files.items()), solution],
        sort_keys=True,
    )
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    root = _cache_root() / digest / name
    if not (root / "instruction.md").is_file():
        staging = root.parent / f".{name}.{os.getpid()}"
        for rel, text in {"instruction.md": instruction + "\n", "task.toml": toml}.items():
            _write(staging / rel, text)
        for rel, text in files.items():
            _write(staging / "environment" / rel, text)
        (staging / "environment").mkdir(parents=True, exist_ok=True)
        for rel, text in test_files.items():
            _write(staging / "tests" / rel, text)
        if solution is not None:
            _write(staging / "solution" / "solve.sh", "#!/usr/bin/env bash\n" + solution)
        try:
            staging.rename(root)
        except OSError:  # another process wrote it first
            pass
    return load_task_dir(root)


def _cache_root() -> Path:
    """Our folder for written-out tasks under the shared temp dir: made private, and refused
    when someone else made it (or a link) first."""
    root = Path(tempfile.gettempdir()) / f"claw-lab-tasks-{os.getuid()}"
    try:
        root.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise TaskError(
            f"{root} is not a private folder of yours (a link, another owner, or writable by "
            "others); remove it and run again"
        )
    return root


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def python_for_tasks() -> str:
    """The interpreter verifiers run with (``$PYTHON``): this one."""
    return sys.executable
