"""How `claw-nb run` answers the permission policy's questions: on the terminal, or not at all."""

from __future__ import annotations

import signal
import threading
from typing import Any


def _input(prompt: str) -> str:
    """`input()` where Ctrl-C ends the run at once: while a run goes, Ctrl-C only asks it to
    stop at its next safe point (`claw_nb.stop.sigint_stops`), which a prompt waiting for a
    line never reaches."""
    if threading.current_thread() is not threading.main_thread():
        return input(prompt)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return input(prompt)
    finally:
        signal.signal(signal.SIGINT, previous)


class TerminalApprover:
    """Ask on the terminal: y(es) / n(o) [reason] / a(lways, adding the rule shown) / r(ules).

    `policy` (set once the agent is built) lets `r` list the rules "always" added in this run
    and `drop N` forget one, the terminal's `%claw rules`."""

    automatic = False

    def __init__(self, policy: Any = None) -> None:
        self.policy = policy

    def __call__(self, request: Any) -> str:
        import json

        from claw_nb.textsafe import show

        if request.kind == "plan":
            return _ask_plan(request, show)
        print(f"\nclaw wants to run {request.tool} ({show(request.reason)}):")
        for key, value in request.arguments.items():
            text = value if isinstance(value, str) else json.dumps(value)
            print(f"  {show(key)}: " + show(text).replace("\n", "\n    "))
        if request.offer is not None:
            print(f"  [a]lways allows {show(request.offer)} for the rest of this run")
        always = " / [a]lways" if request.offer is not None else ""
        rules = " / [r]ules" if self.policy is not None else ""
        question = f"approve? [y]es / [n]o [reason]{always}{rules}: "
        while True:
            try:
                typed = _input(question).strip()
            except EOFError:
                return "no"
            answer = self._answer(typed, request)
            if answer is not None:
                return answer

    def _answer(self, typed: str, request: Any) -> str | None:
        """The policy's answer to what was typed; None: ask again."""
        word, _, rest = typed.partition(" ")
        word = word.lower()
        if word in ("y", "yes") and not rest:
            return "yes"
        if word in ("n", "no", ""):
            reason = " ".join(rest.split())
            return f"no: {reason}" if reason else "no"
        if word in ("a", "always") and not rest:
            if request.offer is None:
                print("  no rule is offered for this call; answer y or n")
                return None
            return "always"
        if word in ("r", "rules") and self.policy is not None:
            self._show_rules()
            return None
        if word == "drop" and self.policy is not None:
            self._drop(rest.strip())
            return None
        return None

    def _show_rules(self) -> None:
        from claw_nb.textsafe import show

        learned = self.policy.conversation_rules()
        if not learned:
            print("  no rules added in this run")
        for number, rule in enumerate(learned, 1):
            print(f"  {number}. {show(str(rule))}")
        if learned:
            print("  (type `drop N` to forget one)")

    def _drop(self, typed: str) -> None:
        learned = self.policy.conversation_rules()
        if not typed.isdigit() or not 1 <= int(typed) <= len(learned):
            print(f"  drop takes a rule's number, 1 to {len(learned)} (r lists them)")
            return
        rule = learned[int(typed) - 1]
        self.policy.drop_rule(rule)
        print(f"  dropped {rule}: such calls ask again")


def terminal_approver(request: Any) -> str:
    """Ask on the terminal, without the rules listing (`TerminalApprover` has it)."""
    return TerminalApprover()(request)


def _ask_plan(request, show) -> str:
    """Show the plan; approve it into accept-edits or auto, or keep planning with feedback."""
    plan = str(request.arguments.get("plan", ""))
    print("\nclaw proposes a plan:\n  " + show(plan).replace("\n", "\n  "))
    while True:
        try:
            answer = (
                _input("approve? [y]es, accept edits / [a]uto / [n]o, keep planning: ")
                .strip()
                .lower()
            )
        except EOFError:
            return "no"
        if answer in ("y", "yes"):
            return "accept-edits"
        if answer in ("a", "auto"):
            return "auto"
        if answer in ("n", "no", ""):
            try:
                feedback = _input("what should change? ").strip()
            except EOFError:
                feedback = ""
            return f"no: {feedback}" if feedback else "no"


def deny_noninteractive(request) -> str:
    """No terminal to ask on (or stdout is for JSON): what would ask is denied."""
    return "no"


deny_noninteractive.automatic = True  # no terminal: nobody answers


deny_noninteractive.label = "policy: non-interactive run (pass --yes to approve)"


def approve_all_printed(request) -> str:
    """`--yes`: approve what would ask; the decision is logged with the call."""
    return "yes"


approve_all_printed.label = "--yes"
approve_all_printed.automatic = True  # yes to what would ask, never to a quoted call
