"""expand_task: kernel variables, dataframe summaries and the last error in a task; and the
notebook tools bound to a shell."""

from __future__ import annotations

import types

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from claw_nb.jupyter.task_context import (
    expand_task,
    last_error,
    notebook_mode,
    notebook_tools,
    summarize_dataframe,
)


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    added: list[str] = []

    def put(**values):
        sh.user_ns.update(values)
        added.extend(values)

    sh.put = put  # type: ignore[attr-defined]
    yield sh
    for name in added:
        sh.user_ns.pop(name, None)
    del sh.put


def test_short_values_go_inline_and_unknown_braces_stay(shell):
    shell.put(city="Oslo", n=3, cfg=types.SimpleNamespace(lr=0.01, name="run-1"))
    task = "Plot {n} points for {city} with lr {cfg.lr} ({cfg.name}); keep {missing} and {cfg.nope}"
    assert expand_task(task, shell) == (
        "Plot 3 points for Oslo with lr 0.01 (run-1); keep {missing} and {cfg.nope}"
    )


def test_code_like_braces_are_left_alone(shell):
    shell.put(x=5)
    task = "Use f'{{x}}', a dict {'a': 1}, a format {x:>3}, {x!r}, { x } and set {1, 2}"
    assert expand_task(task, shell) == task


def test_dataframes_are_summarised_not_repr(shell):
    df = pd.DataFrame({"a": range(100), "b": [f"s{i}" for i in range(100)], "c": 1.5})
    shell.put(df=df)
    out = expand_task("Why is {df} slow? Compare {df} with itself.", shell)
    first_line = out.splitlines()[0]
    assert first_line == "Why is `df` (shown below) slow? Compare `df` (shown below) with itself."
    assert out.count("--- df ---") == 1
    assert "Context from the kernel:" in out
    assert "df: pandas DataFrame, 100 rows x 3 columns" in out
    assert "  a: int64" in out and "  c: float64" in out
    assert "head(5):" in out
    assert "s4" in out and "s5" not in out  # only the head
    assert "[100 rows x 3 columns]" not in out  # not its repr


def test_series_and_attribute_dataframes(shell):
    df = pd.DataFrame({"price": [1.0, 2.0, 3.0]})
    shell.put(data=types.SimpleNamespace(table=df), prices=df["price"])
    out = expand_task("Check {data.table} and {prices}", shell)
    assert "data.table: pandas DataFrame, 3 rows x 1 columns" in out
    assert "prices: pandas Series 'price', 3 values, dtype float64" in out


def test_long_values_are_appended_and_clipped(shell):
    shell.put(big=list(range(10_000)), text="line one\nline two")
    out = expand_task("Summarise {big} and {text}", shell)
    assert out.startswith("Summarise `big` (shown below) and `text` (shown below)")
    assert "--- big ---\n[0, 1, 2" in out
    assert "characters omitted" in out
    assert len(out) < 5_000
    assert "--- text ---\nline one\nline two" in out


def test_last_error_by_placeholder_or_flag(shell):
    shell.run_cell("def broken():\n    raise ValueError('bad input')\nbroken()")
    out = expand_task("Fix {_error}", shell)
    assert out.startswith("Fix the last error (traceback below)")
    assert "--- last error ---" in out
    assert "ValueError: bad input" in out
    assert "raise ValueError('bad input')" in out
    assert "\x1b" not in out
    flagged = expand_task("Fix it", shell, include_error=True)
    assert flagged.startswith("Fix it\n\nContext from the kernel:\n--- last error ---")
    assert "ValueError: bad input" in flagged
    assert "ValueError: bad input" in last_error(shell)


def test_an_error_variable_of_the_user_wins(shell):
    shell.put(_error="my own value")
    assert expand_task("See {_error}", shell) == "See my own value"


def test_structured_traceback_of_a_zmq_shell_is_preferred():
    fake = types.SimpleNamespace(
        user_ns={}, _last_traceback=["\x1b[0;31mKeyError\x1b[0m: 'col'", "more"]
    )
    assert last_error(fake) == "KeyError: 'col'\nmore"


def test_no_error_yet(monkeypatch):
    fake = types.SimpleNamespace(user_ns={})
    for name in ("last_type", "last_value", "last_traceback"):
        monkeypatch.delattr("sys." + name, raising=False)
    assert "(no error has been raised in this kernel)" in expand_task("{_error}", fake)


def test_summarize_dataframe_wide_frames_are_bounded():
    df = pd.DataFrame({f"col{i}": [i] * 3 for i in range(200)})
    text = summarize_dataframe(df, "wide")
    assert "wide: pandas DataFrame, 3 rows x 200 columns" in text
    assert "... 140 more columns" in text
    assert len(text) < 8_000


def test_notebook_tools_are_bound_to_the_shell(shell, monkeypatch, tmp_path):
    from claw_nb.tools.base import ToolContext

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    tools = notebook_tools(shell)
    assert [t.name for t in tools] == ["notebook_read", "notebook_edit", "kernel_exec"]
    assert [t.kind for t in tools] == ["read", "edit", "kernel"]
    shell.put(secret_number=41)
    out = tools[2].run(ToolContext(workspace=tmp_path, runner=None), {"code": "secret_number + 1"})
    assert out == "[result]\n42"
    mode = notebook_mode(shell)
    assert mode.mode == "disk" and mode.notebook is None
