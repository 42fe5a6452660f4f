"""Approvals of workspace servers: outside the workspace, per server and exact command."""

from __future__ import annotations

import os

from claw_nb.mcp.approvals import ServerApprovals
from claw_nb.mcp.specs import ServerSpec
from claw_nb.sandbox.exposure import claw_private_dirs
from claw_nb.user_dirs import config_dir

SPEC = ServerSpec("notes", ".mcp.json", command="notes-server", args=("--db", "n.db"))


def test_an_approval_is_remembered_in_the_user_config_folder(workspace, user_config):
    store = ServerApprovals()
    assert not store.is_approved(SPEC, workspace)
    store.approve(SPEC, workspace)
    assert ServerApprovals().is_approved(SPEC, workspace)  # a new process reads it back
    assert store.path == user_config / "claw_nb" / "mcp_approvals.json"
    assert not store.path.is_relative_to(workspace)
    assert "notes-server --db n.db" in store.path.read_text()


def test_a_changed_command_or_another_workspace_is_not_approved(workspace, tmp_path):
    store = ServerApprovals()
    store.approve(SPEC, workspace)
    moved = ServerSpec("notes", ".mcp.json", command="notes-server", args=("--db", "other.db"))
    assert not store.is_approved(moved, workspace)
    elsewhere = tmp_path / "clone"
    elsewhere.mkdir()
    assert not store.is_approved(SPEC, elsewhere)


def test_revoke_forgets_every_approval_of_the_server_in_the_workspace(workspace):
    store = ServerApprovals()
    store.approve(SPEC, workspace)
    store.approve(ServerSpec("notes", ".mcp.json", command="v2"), workspace)
    store.approve(ServerSpec("other", ".mcp.json", command="x"), workspace)
    assert store.revoke("notes", workspace) == 2
    assert not store.is_approved(SPEC, workspace)
    assert store.is_approved(ServerSpec("other", ".mcp.json", command="x"), workspace)


def test_an_approvals_file_replaced_by_a_link_counts_as_no_approvals(workspace, tmp_path):
    store = ServerApprovals()
    store.approve(SPEC, workspace)
    copy = tmp_path / "copy.json"
    copy.write_bytes(store.path.read_bytes())
    store.path.unlink()
    os.symlink(copy, store.path)
    assert not store.is_approved(SPEC, workspace)


def test_commands_in_the_sandbox_cannot_see_the_approvals(workspace):
    ServerApprovals().approve(SPEC, workspace)
    assert config_dir() in claw_private_dirs()


def test_writing_the_workspace_server_list_asks_in_every_mode(workspace):
    from claw_nb.permissions import PermissionPolicy

    (workspace / ".mcp.json").write_text("{}")
    (workspace / "sub").mkdir()
    os.symlink(workspace / ".mcp.json", workspace / "servers.json")
    policy = PermissionPolicy(mode="auto", workspace=str(workspace))
    for path in (".mcp.json", "sub/../.mcp.json", "./.mcp.json", "servers.json"):
        action, reason = policy.decide("write_file", "edit", {"path": path})
        assert (action, "MCP server list" in reason) == ("ask", True), path
    assert policy.decide("write_file", "edit", {"path": "sub/.mcp.json"})[0] == "allow"
