"""Ignore files are someone else's text: their globs match in bounded time, their reads stay home."""

from __future__ import annotations

import pytest

import claw_nb
from claw_nb.cli import main
from claw_nb.testing import call, text, tool_calls
from claw_nb.tools.glob_match import compile_glob
from claw_nb.tools.ignore import GitIgnore, GlobMatcher

# Nested stars that make a backtracking regex take exponential-ish time on a long 'aaa...' name.
EVIL = "*a" * 22 + "b"
LONG_NAME = "a" * 200
GENEROUS = 60.0  # seconds: a hang fails the test instead of the CI run; no timing assertion


@pytest.fixture
def finishes(time_limit):
    """fn(*args) in the main thread under a generous SIGALRM limit: (finished, result).

    Not a thread with a join timeout: a backtracking `re` match holds the GIL, so the joining
    thread could not even wake up; the regex engine does check for signals, so an alarm ends it.
    """

    def run(fn, *args):
        try:
            with time_limit(GENEROUS):
                return True, fn(*args)
        except TimeoutError:
            return False, None

    return run


def test_a_catastrophic_glob_finishes_without_matching(finishes):
    done, matched = finishes(compile_glob(EVIL).matches, LONG_NAME)
    assert done and matched is False
    assert compile_glob(EVIL).matches("a" * 30 + "b")


def test_a_catastrophic_gitignore_line_does_not_freeze_is_ignored(tmp_path, finishes):
    (tmp_path / ".gitignore").write_text(EVIL + "\n")
    done, ignored = finishes(GitIgnore(tmp_path).is_ignored, LONG_NAME, False)
    assert done and ignored is False


def test_a_catastrophic_list_files_pattern_finishes(finishes):
    done, matched = finishes(GlobMatcher(EVIL).matches, "dir/" + LONG_NAME)
    assert done and matched is False


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "ab", False),
        ("**/x", "x", True),
        ("**/x", "p/q/x", True),
        ("x/**", "x/y/z", True),
        ("x/**", "x", False),
        ("a**b", "axxb", True),
        ("a**b", "ax/xb", False),
        ("*", "a/b", False),
        ("[/]", "/", False),
        ("[a-c]x", "bx", True),
        ("[!a-c]x", "dx", True),
        ("[!a-c]x", "/x", False),
        ("[]]", "]", True),
        ("[abc", "[abc", True),
        ("\\*", "*", True),
        ("\\*", "a", False),
        ("a\\", "a\\", True),
        ("?", "/", False),
        ("", "", True),
    ],
)
def test_glob_semantics_follow_git(pattern, path, expected):
    assert compile_glob(pattern).matches(path) is expected


def test_list_files_with_a_catastrophic_gitignore_finishes_in_auto_mode(
    scripted_server, workspace, finishes
):
    (workspace / ".gitignore").write_text(EVIL + "\n")
    (workspace / LONG_NAME).write_text("x")
    scripted_server.queue(tool_calls(call("list_files", {})), text("listed"))
    options = {"model": "openai/scripted", "api_base": scripted_server.url, "stream": False}
    with claw_nb.create_agent(workspace, log=False, mode="auto", **options) as agent:
        done, result = finishes(agent.run, "list")
    assert done and result.ok
    assert LONG_NAME in scripted_server.requests[1]["messages"][-1]["content"]


def test_cli_run_with_a_catastrophic_gitignore_finishes(claw_env, capsys, finishes):
    (claw_env.workspace / ".gitignore").write_text(EVIL + "\n")
    (claw_env.workspace / LONG_NAME).write_text("x")
    claw_env.server.queue(tool_calls(call("list_files", {})), text("listed"))
    argv = ["run", "--cwd", str(claw_env.workspace), "--mode", "auto", "--no-stream", "list"]
    done, code = finishes(main, argv)
    assert done and code == 0
    assert LONG_NAME in claw_env.server.requests[1]["messages"][-1]["content"]


def test_a_gitignore_linked_out_of_the_workspace_is_skipped(tmp_path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    outside = tmp_path / "outside-rules"
    outside.write_text("*.py\n")
    (workspace / ".gitignore").symlink_to(outside)
    (workspace / "sub").mkdir()
    (workspace / "sub" / ".gitignore").symlink_to(outside)
    gitignore = GitIgnore(workspace)
    assert gitignore.is_ignored("a.py", False) is False
    assert gitignore.is_ignored("sub/b.py", False) is False


def test_a_gitignore_linked_inside_the_workspace_still_applies(tmp_path):
    (tmp_path / "rules").write_text("*.py\n")
    (tmp_path / ".gitignore").symlink_to(tmp_path / "rules")
    assert GitIgnore(tmp_path).is_ignored("a.py", False) is True


def test_the_regex_fast_path_agrees_with_the_automaton():
    """Globs with at most one `*`-like part go to `re`; the rest to the automaton: both agree."""
    import random

    from claw_nb.tools.glob_match import Glob, RegexGlob, _states

    rng = random.Random(7)
    kinds = set()
    for _ in range(5000):
        pattern = "".join(rng.choice("ab/*?[]!-\\.") for _ in range(rng.randint(0, 8)))
        path = "".join(rng.choice("ab/-]\\*.") for _ in range(rng.randint(0, 10)))
        compiled = compile_glob(pattern)
        kinds.add(type(compiled))
        assert compiled.matches(path) == Glob(pattern, _states(pattern)).matches(path), (
            pattern,
            path,
        )
    assert kinds == {Glob, RegexGlob}
    assert isinstance(compile_glob(EVIL), Glob)
