"""How `claw-nb run` answers the permission policy's questions: on the terminal, or not at all."""

from __future__ import annotations

import signal
import threading


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


def terminal_approver(request) -> str:
    """Ask on the terminal: y(es) / n(o) / a(lways); a plan gets its own question."""
    import json

    from claw_nb.textsafe import show

    if request.kind == "plan":
        return _ask_plan(request, show)

    print(f"\nclaw wants to run {request.tool} ({show(request.reason)}):")
    for key, value in request.arguments.items():
        text = value if isinstance(value, str) else json.dumps(value)
        print(f"  {show(key)}: " + show(text).replace("\n", "\n    "))
    while True:
        try:
            answer = _input("approve? [y]es / [n]o / [a]lways: ").strip().lower()
        except EOFError:
            return "no"
        if answer in ("y", "yes"):
            return "yes"
        if answer in ("n", "no", ""):
            return "no"
        if answer in ("a", "always"):
            return "always"


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
