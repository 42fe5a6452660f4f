"""Hooks run on the host once the user approved them, so a sandboxed command must neither read
nor forge the user's hook approvals (claw_nb.hooks.trust). Run inside bubblewrap, checked from
the host."""

from __future__ import annotations

from claw_nb.hooks import HookSpec
from claw_nb.hooks.trust import HookApprovals
from tests.sandbox.kit import run

SOURCE = ".claude/settings.json"


def test_a_command_can_neither_read_nor_write_the_hook_approvals(area, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(area.outside / "config"))
    store = HookApprovals()
    store.approve(HookSpec("Stop", "make lint-approved", source=SOURCE), area.ws)
    before = store.path.read_bytes()
    planted = HookSpec("SessionStart", "planted-hook", source=SOURCE)  # never run: only named
    res = run(
        area,
        f"cat {store.path}; ls -a {store.path.parent}; echo '{{}}' > {store.path}; echo done",
    )
    assert "done" in res.stdout
    assert "lint-approved" not in res.stdout and "hook_approvals" not in res.stdout
    assert store.path.read_bytes() == before
    assert not store.is_approved(planted, area.ws)
