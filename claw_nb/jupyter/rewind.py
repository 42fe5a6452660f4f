"""`%claw undo`, `%claw rewind` and the transcript's "Undo this run" button: shells over
`Agent.rewind` (claw_nb.checkpoints). A mixin of `ClawMagics`, which gives it the conversation
(`agent`) and the run queue (`_busy`)."""

from __future__ import annotations

from typing import Any

from IPython.core.error import UsageError


class RewindCommands:
    """Undo the last run, or rewind the conversation (and its files) to a step."""

    def _cmd_undo(self, rest: list[str]) -> None:
        agent = self._rewindable("undo")
        start = agent.checkpoints.last_run_start
        if start is None:
            raise UsageError("%claw undo: this conversation has no run left to undo")
        report = agent.rewind(start)
        _print(f"claw: undid the last run (back to step {start})", report)

    def _cmd_rewind(self, rest: list[str]) -> None:
        step, keep_files, force = _rewind_options(rest)
        agent = self._rewindable("rewind")
        report = agent.rewind(step, files=not keep_files, force=force)
        kept = ", files kept as they are" if keep_files else ""
        _print(f"claw: rewound to step {step}{kept}", report)

    def _rewindable(self, name: str) -> Any:
        if self._busy():
            raise UsageError(f"claw: a run is still going; %claw {name} once it has finished")
        agent = self.agent
        if agent is None:
            raise UsageError(f"%claw {name}: no conversation yet")
        if getattr(agent, "checkpoints", None) is None:
            raise UsageError(
                f"%claw {name}: this conversation records no checkpoints (checkpoints=false); "
                "%claw config checkpoints=true, then %claw new"
            )
        return agent

    def undo_run(self, view: Any) -> tuple[bool, list[str]]:
        """The "Undo this run" button of `view`: (done, lines to show). Only the latest run of
        the current conversation is undone; otherwise the lines say what to do instead."""
        start, session = view.start_step, view.run.session
        if self._busy():
            return False, ["a run is going: undo once it has finished"]
        agent = self.agent
        if agent is None or agent.session_id != session or agent.checkpoints is None:
            return False, [
                "this run's conversation is no longer the current one: "
                f"`claw-nb rewind {session} --to-step {start}` restores its files"
            ]
        if agent.checkpoints.last_run_start != start:
            return False, [
                "a later run continued this conversation: "
                f"`%claw rewind --to-step {start}` undoes both"
            ]
        report = agent.rewind(start)
        return True, [f"undid this run (back to step {start})", *report.lines()]


def _rewind_options(rest: list[str]) -> tuple[int, bool, bool]:
    """(step, keep files, force) from `%claw rewind [--to-step N] [--keep-files] [--force]`."""
    step, keep_files, force = 0, False, False
    words = list(rest)
    while words:
        word = words.pop(0)
        if word in ("--to-step", "--to-step=") or word.startswith("--to-step="):
            value = word.partition("=")[2] or (words.pop(0) if words else "")
            if not value.isdigit():
                raise UsageError(f"%claw rewind: --to-step takes a step number, got {value!r}")
            step = int(value)
        elif word == "--keep-files":
            keep_files = True
        elif word == "--force":
            force = True
        else:
            raise UsageError(
                f"%claw rewind: unknown option {word!r}; use [--to-step N] [--keep-files] [--force]"
            )
    return step, keep_files, force


def _print(head: str, report: Any) -> None:
    from claw_nb.textsafe import show

    print(head)
    for line in report.lines():
        print("  " + show(line))
