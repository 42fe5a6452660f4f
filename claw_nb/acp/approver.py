"""What the permission policy would ask the user goes to the ACP client as
`session/request_permission`, and the option the user picks comes back as the policy's answer.

A tool call gets allow once / allow always (named with the rule it adds) / reject (a call the
model copied from what it read, or one no rule can allow, gets no "always"). A plan (plan mode's
`exit_plan_mode`) gets the modes it can be approved into, or "keep planning". The question is
asked from the agent's thread and waits for the answer; a cancelled turn, a closed connection or
a client error is a "no".
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
from collections.abc import Callable
from typing import Any

from acp.exceptions import RequestError
from acp.helpers import text_block, tool_content
from acp.schema import PermissionOption, ToolCallStart, ToolCallUpdate

from claw_nb.acp.outbox import Outbox
from claw_nb.acp.updates import tool_call_start
from claw_nb.permissions import plan_answer
from claw_nb.protocols import ApprovalRequest
from claw_nb.stop import StopToken

logger = logging.getLogger(__name__)

# option id -> (name shown, ACP option kind, the answer the policy gets)
CALL_OPTIONS = {
    "allow_once": ("Allow once", "allow_once", "yes"),
    "allow_always": ("Allow always", "allow_always", "always"),
    "reject_once": ("Reject", "reject_once", "no"),
}
PLAN_OPTIONS = {
    "plan_accept_edits": ("Approve, then accept edits", "allow_once", "accept-edits"),
    "plan_ask": ("Approve, ask before each change", "allow_once", "ask"),
    "plan_auto": ("Approve, then run everything", "allow_always", "auto"),
    "plan_keep": ("Keep planning", "reject_once", "no"),
}


def permission_options(request: ApprovalRequest) -> dict[str, tuple[str, str, str]]:
    """The options offered for `request`, by option id. "Allow always" names the rule it adds
    (`request.offer`); without one (a quoted call, a call that asks in every mode) it is not
    offered."""
    if request.kind == "plan":
        return PLAN_OPTIONS
    if request.quoted is not None or request.offer is None:
        return {k: v for k, v in CALL_OPTIONS.items() if k != "allow_always"}
    name, kind, answer = CALL_OPTIONS["allow_always"]
    return {**CALL_OPTIONS, "allow_always": (f"{name}: {request.offer}", kind, answer)}


class ClientApprover:
    """The policy's approver for one ACP session (`claw_nb.protocols.Approver`).

    `current_call()` is the tool call being decided (the session's `UpdateStream` keeps it), so
    the question names the call the client already shows; `stop()` is the agent's stop token (a
    `session/cancel` ends a pending question); `on_plan_approved(mode)` tells the session which
    mode the approved plan continues in.
    """

    automatic = False  # a person answers

    def __init__(
        self,
        outbox: Outbox,
        request_permission: Callable[..., Any],
        session_id: str,
        *,
        current_call: Callable[[], ToolCallStart | None],
        stop: Callable[[], StopToken | None],
        on_plan_approved: Callable[[str], None],
        paths: Any,
        label: str = "the ACP client",
    ) -> None:
        self.outbox = outbox
        self.request_permission = request_permission
        self.session_id = session_id
        self.current_call = current_call
        self.stop = stop
        self.on_plan_approved = on_plan_approved
        self.paths = paths
        self.label = label
        self._ids = itertools.count(1)

    def __call__(self, request: ApprovalRequest) -> str:
        options = permission_options(request)
        tool_call = self._tool_call(request)
        offered = [
            PermissionOption(option_id=key, name=name, kind=kind)
            for key, (name, kind, _answer) in options.items()
        ]

        async def ask() -> Any:
            return await self.request_permission(
                session_id=self.session_id, tool_call=tool_call, options=offered
            )

        try:
            response = self.outbox.call(ask, stop=self.stop())
        except (concurrent.futures.CancelledError, ConnectionError, RequestError) as exc:
            logger.debug("claw_nb acp: permission not given (%r)", exc)
            return "no"
        outcome = response.outcome
        option = getattr(outcome, "option_id", None) if outcome.outcome == "selected" else None
        answer = options[option][2] if option in options else "no"
        if request.kind == "plan":
            approved, mode, _feedback = plan_answer(answer)
            if approved:
                self.on_plan_approved(mode)
        return answer

    def _tool_call(self, request: ApprovalRequest) -> ToolCallUpdate:
        """The call as the client knows it (same id as its `tool_call`), with why it asks."""
        start = self.current_call()  # asked between its ToolCallStarted and ToolCallFinished
        if start is None:
            start = tool_call_start(
                self.paths,
                f"approval-{next(self._ids)}",
                request.tool,
                request.kind,
                request.arguments,
            )
        content = list(start.content or [])
        if request.quoted is not None:
            warning = f"This call was copied from content the agent read: {request.quoted}"
            content.append(tool_content(text_block(warning)))
        return ToolCallUpdate(
            tool_call_id=start.tool_call_id,
            title=start.title,
            kind=start.kind,
            status="pending",
            content=content or None,
            locations=start.locations,
            raw_input=request.arguments,
            field_meta={"claw": {"reason": request.reason}},
        )
