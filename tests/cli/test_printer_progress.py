"""The CLI's live status line while the model writes a long tool call: on a terminal (a real
pseudo-terminal here) one self-overwriting, escaped line, erased before the next output; into a
pipe or a file, nothing at all."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
import threading

from claw_nb import events as ev
from claw_nb.cli.printer import TextPrinter, tool_progress_words
from claw_nb.config import load_config
from claw_nb.testing import call, text, tool_calls
from tests.helpers import Recorder, unguarded_agent

CONTENT = "0123456789abcdef\n" * 1200  # ~20 kB: several progress events
STATUS = "model is writing a tool call: write_file ("


def queue_big_write(server) -> None:
    server.queue(
        tool_calls(call("write_file", {"path": "big.txt", "content": CONTENT})),
        text("Written."),
    )


def recorded_run(server, workspace) -> Recorder:
    queue_big_write(server)
    recorder = Recorder()
    config = load_config(
        workspace, model="openai/scripted", api_base=server.url, api_key="k", stream=True
    )
    assert unguarded_agent(config, listeners=[recorder]).run("write big.txt").ok
    assert recorder.of(ev.ToolCallProgress)
    return recorder


class Terminal:
    """A real pseudo-terminal: the printer writes to its slave end, a thread reads it all."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        self.out = os.fdopen(slave, "w", encoding="utf-8")
        self.received = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 5.0)
            if not ready:
                return
            try:
                data = os.read(self.master, 65536)
            except OSError:  # the slave end closed
                return
            if not data:
                return
            self.received += data

    def close(self) -> str:
        self.out.close()
        self._reader.join(10)
        os.close(self.master)
        return self.received.decode("utf-8").replace("\r\n", "\n")  # the tty's own newlines


def test_the_status_words_name_the_tool_and_the_size():
    assert tool_progress_words("write_file", 2400) == STATUS + "2.4 kB)"
    assert tool_progress_words("", 12) == "model is writing a tool call (12 chars)"


def test_not_on_a_terminal_progress_prints_nothing(scripted_server, workspace):
    recorder = recorded_run(scripted_server, workspace)
    with_progress, without = io.StringIO(), io.StringIO()
    printer = TextPrinter(out=with_progress)
    assert not printer.live
    for event in recorder:
        printer(event)
    plain = TextPrinter(out=without)
    for event in recorder:
        if not isinstance(event, ev.ToolCallProgress):
            plain(event)
    assert with_progress.getvalue() == without.getvalue()  # byte for byte
    assert "writing a tool call" not in with_progress.getvalue()


def test_on_a_terminal_one_line_overwrites_itself_and_is_erased(scripted_server, workspace):
    recorder = recorded_run(scripted_server, workspace)
    terminal = Terminal()
    printer = TextPrinter(out=terminal.out)
    assert printer.live
    for event in recorder:
        printer(event)
    shown = terminal.close()
    progress = recorder.of(ev.ToolCallProgress)
    assert shown.count("\r" + STATUS) == len(progress)  # each update rewrites the same line
    last = tool_progress_words("write_file", progress[-1].chars)
    # erased before the next real output (the model-call figures, then the call itself)
    assert "\r" + last + "\x1b[K\r\x1b[K   [step 1:" in shown
    assert "\n-> write_file" in shown
    assert shown.count("\n") == lines_without_progress(recorder)


def lines_without_progress(recorder: Recorder) -> int:
    """Newlines the printer writes for these events when progress is left out."""
    out = io.StringIO()
    printer = TextPrinter(out=out)
    for event in recorder:
        if not isinstance(event, ev.ToolCallProgress):
            printer(event)
    return out.getvalue().count("\n")


def test_a_tool_name_with_control_characters_is_shown_escaped():
    terminal = Terminal()
    printer = TextPrinter(out=terminal.out)
    printer(ev.ToolCallProgress("s", step=1, index=0, tool="x\x1b[2J\x07", chars=5))
    shown = terminal.close()
    assert "\x1b[2J" not in shown and "x\\e[2J\\a (5 chars)" in shown


def test_the_cli_on_a_terminal_shows_progress_and_into_a_pipe_does_not(claw_env):
    command = [sys.executable, "-m", "claw_nb", "run", "--cwd", str(claw_env.workspace)]
    command += ["--mode", "accept-edits", "write big.txt"]
    queue_big_write(claw_env.server)
    piped = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert "writing a tool call" not in piped.stdout and "\r" not in piped.stdout
    assert "-> write_file" in piped.stdout

    queue_big_write(claw_env.server)
    terminal = Terminal()
    on_tty = subprocess.run(command, stdout=terminal.out, stderr=subprocess.PIPE, timeout=120)
    shown = terminal.close()
    assert on_tty.returncode == 0, on_tty.stderr
    assert "\r" + STATUS in shown and "-> write_file" in shown
    assert (claw_env.workspace / "big.txt").read_text() == CONTENT
