"""Helpers shared by several test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from claw_nb.protocols import Authorization


class Recorder(list):
    """A listener that keeps every event, with a filter by type."""

    def __call__(self, event: Any) -> None:
        self.append(event)

    def of(self, kind: type) -> list:
        return [e for e in self if isinstance(e, kind)]


def allow_everything(tool: Any, arguments: dict[str, Any]) -> Authorization:
    """An authorizer for loop tests that are not about permissions."""
    return Authorization(True, "allowed by the test")


def unguarded_agent(config: Any, **kwargs: Any):
    """An Agent with a plain runner and every call allowed: for loop logic, not security."""
    from claw_nb.agent import Agent
    from claw_nb.sandbox import PlainRunner

    if "model" not in kwargs:
        from claw_nb.model import make_model

        kwargs["model"] = make_model(config)
    kwargs.setdefault("runner", PlainRunner())
    kwargs.setdefault("authorize", allow_everything)
    return Agent(config, **kwargs)
