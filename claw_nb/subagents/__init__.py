"""Subagents: the `task` tool runs a child agent with a fresh context (docs/subagents.md).

`definitions` reads agent files (`.claw/agents/`, Claude Code's `.claude/agents/`), `spawn`
starts and runs a child. Importing this package imports neither: listeners and the CLI only
need `claw_nb.events.SessionTree` to tell a child's events from their own run's.
"""
