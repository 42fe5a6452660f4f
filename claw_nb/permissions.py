"""Who decides whether a tool call runs: permission modes, rules, and the approval callback.

Modes, as Claude Code users know them:
- `ask` (default): reads pass; every edit and command asks the user.
- `accept-edits`: reads and edits inside the workspace pass; commands ask.
- `auto`: everything passes (commands run inside the OS sandbox).
- `read-only`: reads pass; edits and commands are denied (for planning).

Rules allow, ask or deny per tool and argument pattern, e.g. `run_command(git push*)` or
`edit_file(src/**)`. When several rules match, deny wins over ask over allow. Writes under
`.git/` and `.claw/` always ask unless the mode is `auto`. Without an OS sandbox, commands
ask even in `auto` unless an explicit rule allows them.

MCP tools (`mcp__<server>__<tool>`, kind `mcp`) ask like commands; a rule names one tool, a
glob (`mcp__github__*`) or a whole server (`mcp__github`), as in Claude Code.
A PreToolUse hook speaks first (`authorize_with_hook`): its `deny` wins over everything, its
`ask` asks a person in every mode (deny rules still deny), and its `allow` only saves the
question a mode would ask: deny rules, ask rules and what asks in every mode still apply.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import field, replace
from typing import Any

from claw_nb.command_line import Unparsable, command_text, simple_commands
from claw_nb.errors import PermissionSettingsError
from claw_nb.permission_rules import ACTIONS, Rule
from claw_nb.protected_paths import protection_reason
from claw_nb.protocols import ApprovalRequest, Approver, Authorization
from claw_nb.records import record
from claw_nb.rule_offer import offered_rule

MODES = ("ask", "accept-edits", "auto", "read-only", "plan")
WIDER_MODES = ("accept-edits", "auto")  # what a person may switch to so that a call stops asking
# What a plan may be approved into (`plan_answer`); planning again or read-only make no sense.
PLAN_EXITS = ("accept-edits", "ask", "auto")


def check_mode(mode: str) -> str:
    """`mode` if it is a known permission mode, else a PermissionSettingsError saying which are."""
    if mode not in MODES:
        raise PermissionSettingsError(
            f"unknown permission mode {mode!r}; choose one of {', '.join(MODES)}"
        )
    return mode


def deny_all(request: ApprovalRequest) -> str:
    return "no"


deny_all.automatic = True
deny_all.label = "nobody (no approver given)"


def authorize_with_hook(
    authorize: Any, tool: Any, arguments: dict[str, Any], decision: str, reason: str | None
) -> Authorization | None:
    """The decision on a call once the PreToolUse hooks have spoken (`decision`: none, allow,
    ask, deny); None when nobody needs to decide (no authorizer, no hook objection)."""
    why = f": {reason}" if reason else ""
    if decision == "deny":
        return Authorization(False, f"denied by a PreToolUse hook{why}")
    if decision == "ask":
        confirm = getattr(authorize, "confirm", None)
        if confirm is None:
            return Authorization(False, f"a PreToolUse hook asks{why}; refused: no person to ask")
        return confirm(tool, arguments, f"a PreToolUse hook asks{why}")
    if authorize is None:
        return None
    allow = getattr(authorize, "allow_by_hook", None)
    if decision == "allow" and allow is not None:
        return allow(tool, arguments, f"allowed by a PreToolUse hook{why}")
    return authorize(tool, arguments)


def may_precheck(
    authorize: Any, tool: Any, arguments: dict[str, Any], hook_decision: str, quoted: bool
) -> bool:
    """Whether to try a call for whether it can succeed before asking (an edit whose text is
    gone): only when a person would be asked. A denied call learns nothing of the file; an
    allowed one runs and fails with the tool's own, fuller error."""
    if hook_decision == "deny" or authorize is None:
        return False
    decide = getattr(authorize, "decide", None)
    if decide is None:
        return False  # an authorizer that cannot say decides as it always did
    primary = getattr(tool, "primary_argument", None)
    action = decide(tool.name, tool.kind, arguments, primary)[0]
    return action == "ask" or (action == "allow" and (quoted or hook_decision == "ask"))


def confirm_quoted(authorize: Any, tool: Any, arguments: dict[str, Any], why: str) -> Authorization:
    """The decision on a quoted call (`claw_nb.toolcalls.quoted`): the policy asks a person;
    an authorizer that cannot ask anyone refuses it."""
    confirm = getattr(authorize, "confirm_quoted", None)
    if confirm is None:
        return Authorization(False, f"asks in every mode: {why}; refused: no person to ask")
    return confirm(tool, arguments, why)


@record
class PermissionPolicy:
    """Decides each tool call; callable as the agent's `authorize` hook."""

    mode: str = "ask"
    rules: list[Rule] = field(default_factory=list)
    approver: Approver = deny_all
    sandboxed: bool = True  # commands run inside an OS sandbox
    approver_name: str = "user"
    workspace: str | None = None  # to see absolute paths inside the workspace as relative

    def __post_init__(self) -> None:
        check_mode(self.mode)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], **overrides: Any) -> PermissionPolicy:
        """From a `[permissions]` table: mode = "...", allow/ask/deny = ["tool(pattern)", ...]."""
        section = settings.get("permissions", {}) if settings else {}
        rules = [
            Rule.parse(action, text)
            for action in ACTIONS
            for text in _as_list(section.get(action, []))
        ]
        mode = overrides.pop("mode", None) or section.get("mode", "ask")
        return cls(mode=mode, rules=rules, **overrides)

    def with_mode(self, mode: str) -> PermissionPolicy:
        """This policy in another mode, for one run: the same rules (an "always" answered
        during the run stays learned), the shared policy itself unchanged."""
        return replace(self, mode=check_mode(mode))

    def add_rules(self, action: str, texts: Iterable[str]) -> None:
        self.rules.extend(Rule.parse(action, text) for text in texts)

    def __call__(self, tool: Any, arguments: dict[str, Any]) -> Authorization:
        action, reason, rule = self._judge(
            tool.name, tool.kind, arguments, getattr(tool, "primary_argument", None)
        )
        if action != "ask":
            return Authorization(action == "allow", reason, rule)
        return self._ask(tool, arguments, self._request(tool, arguments, reason))

    def _request(
        self, tool: Any, arguments: dict[str, Any], reason: str, *, confirm: str | None = None
    ) -> ApprovalRequest:
        """The question for a person: what "always" would add, and which modes would not ask.
        A call that asks in every mode (`confirm`: quoted, a hook's ask) is offered no rule."""
        primary = getattr(tool, "primary_argument", None)
        offer = None if confirm is not None else self._offer(tool, arguments)
        passes_in = tuple(
            m
            for m in WIDER_MODES
            if m != self.mode
            and replace(self, mode=m).decide(tool.name, tool.kind, arguments, primary)[0] == "allow"
        )
        return ApprovalRequest(
            tool.name, tool.kind, dict(arguments), reason, offer=offer, mode=self.mode,
            passes_in=() if confirm is not None else passes_in,
        )  # fmt: skip

    def _offer(self, tool: Any, arguments: dict[str, Any]) -> str | None:
        """The rule "always" adds: the narrowest that covers this call (`claw_nb.rule_offer`),
        and only if it would let this very call run without asking."""
        primary = getattr(tool, "primary_argument", None)
        rule = offered_rule(tool.name, tool.kind, arguments, primary)
        if rule is None or rule in self.rules:
            return None
        widened = replace(self, rules=[*self.rules, rule])
        allowed = widened.decide(tool.name, tool.kind, arguments, primary)[0] == "allow"
        return str(rule) if allowed else None

    def conversation_rules(self) -> list[Rule]:
        """The rules "always" answers added in this conversation (`%claw rules`)."""
        return [r for r in self.rules if r.origin == "conversation"]

    def drop_rule(self, rule: Rule) -> None:
        """Forget `rule`; in place, so the runs' copies of this policy (`with_mode`) forget it."""
        self.rules.remove(rule)

    def confirm_quoted(self, tool: Any, arguments: dict[str, Any], why: str) -> Authorization:
        """A call the model quoted from content it read: a person decides, in every mode and
        whatever the allow rules say (deny rules still deny); with nobody to ask, refused."""
        return self.confirm(tool, arguments, why, quoted=why)

    def confirm(
        self, tool: Any, arguments: dict[str, Any], why: str, *, quoted: str | None = None
    ) -> Authorization:
        """A person decides, in every mode and whatever the allow rules say (deny rules still
        deny); with nobody to ask, refused. For quoted calls and a PreToolUse hook's `ask`."""
        action, reason, rule = self._judge(
            tool.name, tool.kind, arguments, getattr(tool, "primary_argument", None)
        )
        if action == "deny":
            return Authorization(False, reason, rule)
        reason = f"asks in every mode: {why}"
        if getattr(self.approver, "automatic", False):
            return Authorization(
                False, f"{reason}; refused: no person to ask (approver: {self.approver_name})"
            )
        request = replace(self._request(tool, arguments, reason, confirm=why), quoted=quoted)
        return self._ask(tool, arguments, request)

    def _decide_plan(self) -> tuple[str, str]:
        if self.mode != "plan":
            return "deny", f"not planning (mode {self.mode}): carry on with the task"
        return "ask", "plan mode: the plan needs the user's approval"

    def allow_by_hook(self, tool: Any, arguments: dict[str, Any], why: str) -> Authorization:
        """A PreToolUse hook allowed the call: it runs without the question the permission
        mode would ask. A deny rule, an ask rule, and what asks in every mode (no sandbox,
        protected files, the kernel) still decide: a hook never widens past them."""
        primary = getattr(tool, "primary_argument", None)
        action, reason, rule = self._judge(tool.name, tool.kind, arguments, primary)
        if action != "ask":
            return Authorization(action == "allow", reason, rule)
        if (
            replace(self, mode="auto").decide(tool.name, tool.kind, arguments, primary)[0]
            == "allow"
        ):
            return Authorization(True, why)  # only the mode asked
        return self._ask(tool, arguments, self._request(tool, arguments, reason))

    def _ask(self, tool: Any, arguments: dict[str, Any], request: ApprovalRequest) -> Authorization:
        answer = self.approver(request)
        reason = request.reason
        # An approver may name who answered (the notebook's routes to whichever view runs).
        who = getattr(self.approver, "current_label", None) or self.approver_name
        if request.kind == "plan":
            return self._answer_plan(answer, who)
        word, _, said = (answer or "").partition(":")
        word = word.strip().lower()
        if word == "always" and request.offer is not None:  # exactly the rule that was shown
            rule = Rule.parse("allow", request.offer, origin="conversation")
            if rule not in self.rules:
                self.rules.append(rule)
            return Authorization(True, f"{reason}; approved by {who}, always allow {rule}")
        if word in ("yes", "always"):
            return Authorization(True, f"{reason}; approved by {who}")
        said = " ".join(said.split()) if word == "no" else ""
        told = f". The user says: {said}" if said else ""
        return Authorization(False, f"{reason}; denied by {who}{told}")

    def _answer_plan(self, answer: str, who: str) -> Authorization:
        """Approved: this policy (the run's own copy) leaves plan mode; refused: it stays."""
        approved, mode, feedback = plan_answer(answer)
        if approved:
            self.mode = mode
            return Authorization(True, f"plan approved by {who}; mode {mode}")
        if getattr(self.approver, "automatic", False) and not feedback:
            refused = f"the plan was not approved: no person to ask ({who}); stay in plan mode"
            return Authorization(False, refused)
        why = f": {feedback}" if feedback else ""
        return Authorization(
            False,
            f"the user ({who}) did not approve the plan{why}. Stay in plan mode: revise "
            "the plan and call exit_plan_mode again",
        )

    def decide(
        self, tool: str, kind: str, arguments: dict[str, Any], primary: str | None = None
    ) -> tuple[str, str]:
        """(allow|ask|deny, reason) before asking anyone."""
        action, reason, _rule = self._judge(tool, kind, arguments, primary)
        return action, reason

    def _judge(
        self, tool: str, kind: str, arguments: dict[str, Any], primary: str | None = None
    ) -> tuple[str, str, str | None]:
        """(allow|ask|deny, reason, the rule that decided or None)."""
        if kind == "command":
            return self._decide_command(tool, arguments, primary or "command")
        matched = {
            action: [
                r for r in self.rules if r.action == action and r.matches(tool, arguments, primary)
            ]
            for action in ACTIONS
        }
        if matched["deny"]:
            return "deny", f"denied by rule {matched['deny'][0]}", str(matched["deny"][0])
        if kind == "meta" or kind == "read":
            if matched["ask"]:
                return "ask", f"asks by rule {matched['ask'][0]}", str(matched["ask"][0])
            return "allow", f"allowed: {kind} tool", None
        if kind == "plan":
            return (*self._decide_plan(), None)
        if self.mode in ("read-only", "plan"):
            return "deny", _READ_ONLY[self.mode], None
        if kind == "kernel" and not matched["allow"]:
            return "ask", "asks in every mode: runs code in your kernel, outside the sandbox", None
        if matched["ask"]:
            return "ask", f"asks by rule {matched['ask'][0]}", str(matched["ask"][0])
        if kind == "edit" and (why := self._protected(arguments)) is not None:
            return "ask", f"asks in every mode: {why}", None
        if matched["allow"]:
            return "allow", f"allowed by rule {matched['allow'][0]}", str(matched["allow"][0])
        if self.mode == "auto":
            return "allow", "allowed by mode auto", None
        if self.mode == "accept-edits" and kind == "edit":
            return "allow", "allowed by mode accept-edits", None
        return "ask", f"asks: mode {self.mode}", None

    def _decide_command(
        self, tool: str, arguments: dict[str, Any], primary: str
    ) -> tuple[str, str, str | None]:
        """Rules meet each simple command of the line: a deny or ask rule that matches any of
        them applies; allow rules allow only when every simple command, as written, is allowed."""
        line = str(arguments.get(primary, ""))
        try:
            simple = simple_commands(line)
            commands = [command_text(words) for c in simple for words in c.runs]
            problem = None
        except Unparsable as exc:
            simple, commands, problem = [], [line.strip()], str(exc)

        def first(action: str) -> Rule | None:
            return next(
                (
                    r
                    for r in self.rules
                    if r.action == action
                    and r.tool in ("*", tool)
                    and any(r.matches_text(c) for c in commands)
                ),
                None,
            )

        if (rule := first("deny")) is not None:
            return "deny", f"denied by rule {rule}", str(rule)
        if self.mode in ("read-only", "plan"):
            return "deny", _READ_ONLY[self.mode], None
        if not self.sandboxed:
            return "ask", "asks in every mode: no OS sandbox, so every command needs approval", None
        if (rule := first("ask")) is not None:
            return "ask", f"asks by rule {rule}", str(rule)
        if problem is not None:
            why = f"asks: the command line cannot be checked against the rules ({problem})"
            return "ask", why, None
        allow = [r for r in self.rules if r.action == "allow" and r.tool in ("*", tool)]
        # Allow rules meet each simple command as written (a path, `VAR=x` or a wrapper in
        # front is not the program the rule named): `Rule.allows`.
        if simple and all(any(r.allows(c) for r in allow) for c in simple):
            rules = ", ".join(
                dict.fromkeys(str(next(r for r in allow if r.allows(c))) for c in simple)
            )
            return "allow", f"allowed by rule {rules}", rules
        if (rule := next((r for r in allow if r.matches_line(line)), None)) is not None:
            return "allow", f"allowed by rule {rule}", str(rule)  # this exact line
        if self.mode == "auto":
            return "allow", "allowed by mode auto", None
        return "ask", f"asks: mode {self.mode}", None

    def _protected(self, arguments: dict[str, Any]) -> str | None:
        """Why writing the call's path needs a yes, decided on the resolved path."""
        path = arguments.get("path")
        if not isinstance(path, str) or not path:
            return None
        return protection_reason(self.workspace or ".", path)


def plan_answer(answer: str) -> tuple[bool, str, str]:
    """(approved, the mode to go on in, feedback) from an approver's answer to a plan.

    "yes" / "always" approve into `accept-edits`; "ask", "accept-edits" or "auto" approve into
    that mode; "no", or "no: what to change", refuse (the text after the colon is feedback)."""
    text = (answer or "").strip()
    word, _, rest = text.partition(":")
    word = word.strip().lower()
    if word in ("yes", "always"):
        return True, "accept-edits", ""
    if word in PLAN_EXITS:
        return True, word, ""
    return False, "plan", rest.strip() if word == "no" else ("" if word == "" else text)


_READ_ONLY = {
    "read-only": "denied: read-only mode allows no edits or commands",
    "plan": (
        "denied: plan mode allows only reads and searches; when you know what to do, call "
        "exit_plan_mode with your plan"
    ),
}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]
