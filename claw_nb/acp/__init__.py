"""claw_nb as an Agent Client Protocol agent: `claw-nb acp` speaks ACP over stdio.

A shell, like `cli/` and `jupyter/`: an editor or a chat (Zed, marimo, JupyterLab's Jupyter AI)
drives the same agent `%%claw` runs (`api.build_agent`: sandbox, permission policy, DuckDB log).
`server` answers the protocol's methods, `session` runs one conversation in a thread, `updates`
turns the loop's events into session updates, `approver` asks the client what the policy would
ask the user, `client_files` reads open files through the client, `mcp_servers` turns the MCP
servers the client passes into claw_nb.mcp specs. See docs/acp.md.

Nothing here is imported by `import claw_nb`; the `acp` package loads only for `claw-nb acp`.
"""
