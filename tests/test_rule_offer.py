"""What "Always allow" offers and adds: the narrowest rule that covers the call shown, never an
interpreter or a shell with a wildcard; compound lines only as their exact text."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from claw_nb.permission_rules import Rule, glob_escape, literal_text
from claw_nb.permissions import PermissionPolicy
from claw_nb.protocols import ApprovalRequest
from claw_nb.rule_offer import command_pattern

COMMAND = SimpleNamespace(name="run_command", kind="command", primary_argument="command")
EDIT = SimpleNamespace(name="edit_file", kind="edit", primary_argument="path")
KERNEL = SimpleNamespace(name="kernel_exec", kind="kernel", primary_argument="code")
EXPLOIT = "python -c \"import os; os.remove('test_stats.py')\""


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("python -m pytest -q test_stats.py", "python -m pytest *"),
        ("python3 -m ruff check .", "python3 -m ruff check *"),
        ("python -m mypy src", "python -m mypy *"),
        ("npm run test", "npm run test *"),
        ("npm test", "npm test *"),
        ("uv run pytest -q", "uv run pytest *"),
        ("uv run python -m pytest -q", "uv run python -m pytest *"),
        ("cargo test --all", "cargo test *"),
        ("go test ./...", "go test *"),
        ("git status", "git status *"),
        ("pytest -q", "pytest *"),
        ("ls -la", "ls *"),
    ],
)
def test_test_runners_linters_and_reads_are_narrowed_to_their_command_shape(line, offered):
    assert command_pattern(line) == offered


@pytest.mark.parametrize(
    "line",
    [
        EXPLOIT,
        "python script.py",
        "python -m http.server",  # a module that serves or runs what it is given
        "node x.js",
        "bash build.sh",
        "sh -c 'ls'",
        "env X=1 pytest",
        "uv run python -c 1",
        "./run.sh",
        "go run main.go",
        "git -C sub status",
        "git rebase -x 'make test' main",
        "rm old.txt",
        "deno run x.ts",
    ],
)
def test_code_on_the_line_scripts_and_wrappers_are_offered_only_exactly(line):
    assert command_pattern(line) == glob_escape(line)


@pytest.mark.parametrize(
    "line",
    ["cd sub && pytest", "pytest -q; ruff check .", "ls *.py | wc -l", "pytest > out.txt"],
)
def test_a_compound_line_is_offered_as_its_exact_text_never_a_wildcard(line):
    pattern = command_pattern(line)
    assert literal_text(pattern) == line


def test_a_line_the_rules_cannot_read_is_offered_nothing():
    assert command_pattern("echo $(whoami)") is None
    assert command_pattern("eval ls") is None


def test_never_an_interpreter_or_a_shell_with_a_wildcard():
    lines = [EXPLOIT, "python x.py", "bash -c 'ls'", "node -e 1", "env ls", "sh x.sh", "perl -e 1"]
    wide = {"python *", "bash *", "sh -c *", "node *", "env *", "sh *", "perl *"}
    assert {command_pattern(line) for line in lines}.isdisjoint(wide)


def _always_policy() -> tuple[PermissionPolicy, list[ApprovalRequest]]:
    asked: list[ApprovalRequest] = []
    policy = PermissionPolicy(mode="ask", approver=lambda r: asked.append(r) or "always")
    return policy, asked


def test_the_exploit_always_on_pytest_does_not_allow_python_c():
    policy, asked = _always_policy()
    assert policy(COMMAND, {"command": "python -m pytest -q test_stats.py"}).allowed
    assert asked[0].offer == "run_command(python -m pytest *)"
    assert policy.decide("run_command", "command", {"command": EXPLOIT})[0] == "ask"
    assert policy.decide("run_command", "command", {"command": "python -m pytest tests"}) == (
        "allow",
        "allowed by rule run_command(python -m pytest *)",
    )


def test_an_exact_rule_allows_only_that_line():
    policy, asked = _always_policy()
    assert policy(COMMAND, {"command": "cd sub && pytest"}).allowed
    assert asked[0].offer == "run_command(cd sub && pytest)"
    assert policy.decide("run_command", "command", {"command": "cd sub && pytest"})[0] == "allow"
    for other in ("cd sub && pytest; rm -rf x", "cd sub", "pytest", "cd other && pytest"):
        assert policy.decide("run_command", "command", {"command": other})[0] == "ask", other


def test_an_exact_rule_escapes_the_wildcards_of_its_line():
    policy, asked = _always_policy()
    policy(COMMAND, {"command": "ls *.py | wc -l"})
    assert asked[0].offer == "run_command(ls [*].py | wc -l)"
    assert policy.decide("run_command", "command", {"command": "ls *.py | wc -l"})[0] == "allow"
    assert policy.decide("run_command", "command", {"command": "ls a.py | wc -l"})[0] == "ask"


def test_the_exact_python_c_rule_allows_only_that_code():
    policy, _ = _always_policy()
    policy(COMMAND, {"command": EXPLOIT})
    assert policy.decide("run_command", "command", {"command": EXPLOIT})[0] == "allow"
    other = "python -c \"import os; os.remove('other.py')\""
    assert policy.decide("run_command", "command", {"command": other})[0] == "ask"


def test_a_deny_rule_still_beats_an_exact_line():
    line = "git status && git push"
    policy = PermissionPolicy(mode="ask")
    policy.add_rules("allow", [f"run_command({glob_escape(line)})"])
    assert policy.decide("run_command", "command", {"command": line})[0] == "allow"
    policy.add_rules("deny", ["run_command(git push*)"])
    assert policy.decide("run_command", "command", {"command": line})[0] == "deny"


def test_an_edit_is_offered_its_file_and_kernel_code_its_exact_text():
    policy, asked = _always_policy()
    policy(EDIT, {"path": "./cli.py", "old_string": "a", "new_string": "b"})
    assert asked[0].offer == "edit_file(./cli.py)"
    assert policy.decide("edit_file", "edit", {"path": "cli.py"}, "path")[0] == "allow"
    assert policy.decide("edit_file", "edit", {"path": "other.py"}, "path")[0] == "ask"
    assert asked[0].passes_in == ("accept-edits", "auto")
    policy(KERNEL, {"code": "df.describe()"})
    assert asked[1].offer == "kernel_exec(df.describe())"
    assert policy.decide("kernel_exec", "kernel", {"code": "df.head()"}, "code")[0] == "ask"


def test_no_rule_is_offered_where_a_rule_could_not_stop_the_question():
    asked: list[ApprovalRequest] = []
    policy = PermissionPolicy(
        mode="ask", sandboxed=False, approver=lambda r: asked.append(r) or "always"
    )
    auth = policy(COMMAND, {"command": "pytest -q"})
    assert asked[0].offer is None and auth.allowed and "always" not in auth.reason
    assert policy.rules == []  # "always" without an offer approves once, adds nothing
    policy(EDIT, {"path": ".claw/settings.toml", "old_string": "a", "new_string": "b"})
    assert asked[1].offer is None  # protected: asks in every mode


def test_a_denial_carries_the_users_reason_and_a_rule_decision_names_its_rule():
    policy = PermissionPolicy(mode="ask", approver=lambda r: "no:  use   pathlib ")
    auth = policy(COMMAND, {"command": "rm x"})
    assert not auth.allowed and auth.reason.endswith("The user says: use pathlib")
    policy.add_rules("allow", ["run_command(pytest *)"])
    allowed = policy(COMMAND, {"command": "pytest -q"})
    assert allowed.allowed and allowed.rule == "run_command(pytest *)"
    policy.add_rules("deny", ["run_command(curl *)"])
    assert policy(COMMAND, {"command": "curl x"}).rule == "run_command(curl *)"


def test_rules_know_their_origin_and_a_conversation_rule_can_be_dropped_for_every_run():
    policy, _ = _always_policy()
    policy.add_rules("allow", ["run_command(ruff *)"])
    policy(COMMAND, {"command": "git status"})
    assert [str(r) for r in policy.conversation_rules()] == ["run_command(git status *)"]
    run = policy.with_mode("accept-edits")  # a run's copy shares the rules
    policy.drop_rule(policy.conversation_rules()[0])
    assert run.decide("run_command", "command", {"command": "git status"})[0] == "ask"
    assert [r.origin for r in policy.rules] == ["settings"]


def test_the_offer_round_trips_through_the_rule_syntax():
    for line in (EXPLOIT, "cd a && echo '(x)'", "ls [ab]*.py | wc"):
        offer = f"run_command({command_pattern(line)})"
        rule = Rule.parse("allow", offer)
        assert str(rule) == offer and rule.matches_line(line)


# --- the review's findings: an offered rule allows no more than the shape the person saw -------


def _approved_always(line: str) -> PermissionPolicy:
    """A sandboxed `ask` policy after a person answered "always" to `line`."""
    policy = PermissionPolicy(mode="ask", sandboxed=True, approver=lambda r: "always")
    assert policy(COMMAND, {"command": line}).allowed
    return policy


def _decision(policy: PermissionPolicy, line: str) -> str:
    return policy.decide("run_command", "command", {"command": line})[0]


@pytest.mark.parametrize(
    ("approved", "other"),
    [
        ("pytest -q", "./pytest -q"),
        ("pytest -q", "/tmp/x/pytest -q"),  # a script the agent wrote
        ("pytest -q", "PATH=. pytest"),
        ("pytest -q", "PYTEST_ADDOPTS='-p evil' pytest"),
        ("pytest -q", "env LD_PRELOAD=./e.so pytest"),
        ("pytest -q", "PATH=.; pytest -q"),  # an assignment of its own, then the program
        ("pytest -q", "sh -c 'pytest -q'"),
        ("pytest -q", "timeout 5 pytest -q"),
        ("pytest -q", "pytest -q > conftest.py"),  # writes a file through a redirection
        (
            "git status",
            "GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.fsmonitor GIT_CONFIG_VALUE_0=./evil.sh "
            "git status",
        ),
        ("python -m pytest -q", "PYTHONPATH=. python -m pytest -q"),
        ("python -m pytest -q", "./python -m pytest -q"),
    ],
)
def test_an_offered_rule_does_not_meet_a_path_an_assignment_or_a_wrapper(approved, other):
    policy = _approved_always(approved)
    assert _decision(policy, approved) == "allow"
    assert _decision(policy, other) == "ask", other


def test_a_lookalike_program_name_is_offered_only_exactly():
    lookalike = "pyt\u0435st -q"  # Cyrillic e
    assert command_pattern(lookalike) == lookalike
    policy = _approved_always(lookalike)
    assert _decision(policy, lookalike) == "allow"
    assert _decision(policy, "./pyt\u0435st -q") == "ask"
    assert _decision(policy, "pyt\u0435st -x") == "ask"


def test_deny_and_ask_rules_still_see_through_paths_assignments_and_wrappers():
    policy = _approved_always("pytest -q")
    policy.add_rules("deny", ["run_command(pytest --evil*)"])
    for line in ("./pytest --evil", "X=1 pytest --evil", "env pytest --evil", "pytest --evil"):
        assert _decision(policy, line) == "deny", line


def test_a_settings_rule_that_names_a_path_allows_that_path_as_written():
    policy = PermissionPolicy(mode="ask", sandboxed=True)
    policy.add_rules("allow", ["run_command(./scripts/test.sh *)"])
    assert _decision(policy, "./scripts/test.sh") == "allow"
    assert _decision(policy, "./scripts/test.sh -q --out=a/b") == "allow"
    for other in ("/tmp/x/scripts/test.sh -q", "test.sh -q", "./other/test.sh"):
        assert _decision(policy, other) == "ask", other
    policy.add_rules("allow", ["run_command(*)"])  # meets any program named bare, only those
    assert _decision(policy, "test.sh -q") == "allow"
    for other in ("/tmp/x/scripts/test.sh -q", "X=1 ls", "./ls", "ls > out.txt"):
        assert _decision(policy, other) == "ask", other


@pytest.mark.parametrize(
    "line",
    [
        "python -m pickle x.pkl",
        "python -m coverage run x.py",
        "coverage run x.py",
        "python -m nbconvert --execute x.ipynb",
        "python -m unittest tests",
        "tar -xf a.tar",
        "busybox ls",
        "flock /tmp/l ls",
        "make test",
        "find . -name x",
        "git log -1",
        "git diff HEAD",
        "pip install rich",
        "python -m pip install rich",
        "npx prettier --check .",
        "git commit -m 'two words'",
        "lsof -i",
    ],
)
def test_programs_outside_the_widened_list_are_offered_only_exactly(line):
    assert command_pattern(line) == glob_escape(line)
