"""Which MCP servers a session asks for: the workspace's, from `[mcp_servers.NAME]` in
`.claw/settings.toml` and Claude Code's `.mcp.json` (`{"mcpServers": {NAME: {...}}}`), read as
untrusted files, and those the program running claw passes (an ACP client's own configuration).

Both files live in the workspace, so an agent or a cloned repository may have written them: a
workspace `ServerSpec` is only a request. It carries everything that decides what would run or
where requests would go (`fingerprint`), which is what the user approves, and `${VAR}`
references stay unexpanded until launch (`launch`), so the approval shows what the file says.
A client's server (`client_server`) comes from the user's own editor settings, outside the
workspace: it needs no approval, its values are used as given, and it wins a name clash.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import field, replace
from pathlib import Path
from typing import Any, Literal

from claw_nb.claw_dir import SETTINGS_FILE
from claw_nb.protected_paths import MCP_SERVERS_FILE
from claw_nb.records import record
from claw_nb.untrusted import UntrustedPathRefused, read_untrusted_text

MCP_JSON = MCP_SERVERS_FILE  # Claude Code's project servers, at the workspace root
MAX_MCP_JSON_BYTES = 1 << 20
Transport = Literal["stdio", "http", "sse"]
# Where a server was configured: a workspace file (approved by the user before it starts, `${VAR}`
# filled in, as Claude Code reads `.mcp.json`), or the client that runs claw (used as given).
Origin = Literal["workspace", "client"]
_TRANSPORTS = {"stdio": "stdio", "http": "http", "streamable-http": "http", "sse": "sse"}
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_HTTP_URL = re.compile(r"^https?://")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(ValueError):
    """A `${VAR}` in a server's settings names a variable that is not set (and has no default)."""


@record(frozen=True)
class ServerSpec:
    """One configured server, as its file wrote it (`${VAR}` unexpanded)."""

    name: str
    source: str  # the file it came from, relative to the workspace
    transport: Transport = "stdio"
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    problem: str | None = None  # why it cannot start whatever the user says (a malformed entry)
    origin: Origin = "workspace"

    def fingerprint(self, workspace: Path | str) -> str:
        """What an approval is for: the workspace, the name and everything that decides what
        runs or where requests go. Any change asks again."""
        data = {
            "workspace": os.path.realpath(workspace),
            "name": self.name,
            "transport": self.transport,
            "command": self.command,
            "args": list(self.args),
            "env": [list(pair) for pair in self.env],
            "url": self.url,
            "headers": [list(pair) for pair in self.headers],
        }
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def describe(self) -> str:
        """The exact command line (stdio) or URL, with its environment and headers, one line."""
        if self.transport == "stdio":
            env = " ".join(f"{key}={shlex.quote(value)}" for key, value in self.env)
            line = shlex.join([self.command or "", *self.args])
            return f"{env} {line}" if env else line
        headers = "".join(f" -H {shlex.quote(f'{k}: {v}')}" for k, v in self.headers)
        return f"{self.transport} {self.url}{headers}"

    def launch(self, environ: Mapping[str, str] | None = None) -> ServerSpec:
        """This spec with `${VAR}` and `${VAR:-default}` filled in from `environ` (as Claude Code
        does); MissingVariable names a variable that is unset and has no default. A client's
        server is used as given: its values are literal."""
        if self.origin == "client":
            return self
        environ = os.environ if environ is None else environ

        def expand(text: str | None) -> str | None:
            if text is None:
                return None

            def one(match: re.Match[str]) -> str:
                value = environ.get(match.group(1))
                if value is not None:
                    return value
                if match.group(2) is not None:
                    return match.group(2)
                raise MissingVariable(
                    f"needs the environment variable {match.group(1)}, which is not set"
                )

            return _VAR.sub(one, text)

        return ServerSpec(
            name=self.name,
            source=self.source,
            transport=self.transport,
            command=expand(self.command),
            args=tuple(expand(a) or "" for a in self.args),
            env=tuple((k, expand(v) or "") for k, v in self.env),
            url=expand(self.url),
            headers=tuple((k, expand(v) or "") for k, v in self.headers),
        )


@record(frozen=True)
class ServerList:
    """The servers a session may start (the workspace's, and a client's), and what was wrong
    with their files or entries."""

    servers: tuple[ServerSpec, ...] = ()
    problems: tuple[str, ...] = field(default=())

    def names(self) -> list[str]:
        return [s.name for s in self.servers]

    def get(self, name: str) -> ServerSpec | None:
        return next((s for s in self.servers if s.name == name), None)

    def with_client(self, client: Sequence[ServerSpec]) -> ServerList:
        """These servers and a client's: the client's come first, and a workspace server of the
        same name is left out with a line saying so (the user's own editor settings win over a
        file that may have come with the repository)."""
        by_name = {spec.name: spec for spec in client}
        problems = [
            f"{s.source}: server {s.name!r} is also passed by {by_name[s.name].source}; "
            "that one is used"
            for s in self.servers
            if s.name in by_name
        ]
        kept = tuple(s for s in self.servers if s.name not in by_name)
        return ServerList((*client, *kept), (*self.problems, *problems))


def client_server(
    name: str,
    source: str,
    *,
    transport: Transport = "stdio",
    command: str | None = None,
    args: tuple[str, ...] = (),
    env: tuple[tuple[str, str], ...] = (),
    url: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> ServerSpec:
    """A server the client running claw passes (`source` names it): a human-readable name
    becomes a tool-name prefix (`Jupyter MCP Server` -> `Jupyter_MCP_Server`); a server without
    a command or an http(s) url gets a `problem` and never starts."""
    safe = _NAME_UNSAFE.sub("_", name.strip()).strip("_")[:64] or "client"
    spec = ServerSpec(
        name=safe,
        source=source,
        transport=transport,
        command=command,
        args=tuple(args),
        env=tuple(sorted(env)),
        url=url,
        headers=tuple(headers),
        origin="client",
    )
    if transport == "stdio" and not (command or "").strip():
        return replace(spec, problem="a stdio server needs a command")
    if transport != "stdio" and not _HTTP_URL.match(url or ""):
        return replace(spec, problem=f"a {transport} server needs an http(s) url, got {url!r}")
    return spec


def load_servers(workspace: Path | str, settings: Mapping[str, Any] | None) -> ServerList:
    """The workspace's servers: `[mcp_servers]` of the (already loaded) settings file, then
    `.mcp.json`; a name in both is taken from the settings file."""
    found: dict[str, ServerSpec] = {}
    problems: list[str] = []
    section = (settings or {}).get("mcp_servers") or {}
    for name, entry in section.items():
        found[name] = parse_server(name, entry, str(SETTINGS_FILE))
    table, problem = _read_mcp_json(workspace)
    if problem:
        problems.append(problem)
    for name, entry in table.items():
        if name in found:
            problems.append(
                f"{MCP_JSON}: server {name!r} is also in {SETTINGS_FILE}; that one is used"
            )
            continue
        found[name] = parse_server(name, entry, MCP_JSON)
    return ServerList(tuple(found.values()), tuple(problems))


def _read_mcp_json(workspace: Path | str) -> tuple[dict[str, Any], str | None]:
    try:
        text = read_untrusted_text(workspace, MCP_JSON, max_bytes=MAX_MCP_JSON_BYTES)
    except (UntrustedPathRefused, OSError) as exc:
        return {}, f"{MCP_JSON}: not read ({exc})"
    if text is None:
        return {}, None
    try:
        data = json.loads(text)
    except ValueError as exc:
        return {}, f"{MCP_JSON}: not valid JSON ({exc})"
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if servers is None:
        return {}, None
    if not isinstance(servers, dict):
        return {}, f"{MCP_JSON}: mcpServers must be an object of servers by name"
    return servers, None


def parse_server(name: str, entry: Any, source: str) -> ServerSpec:
    """One entry of either file; a malformed one becomes a spec with a `problem`."""
    spec = ServerSpec(name=str(name), source=source)
    if not _NAME.match(str(name)):
        return _bad(spec, "a server name may use letters, digits, _ and - (at most 64)")
    if not isinstance(entry, dict):
        return _bad(spec, "expected a table of settings (command/args/env or url/headers)")
    kind = str(
        entry.get("type") or entry.get("transport") or ("http" if "url" in entry else "stdio")
    )
    transport = _TRANSPORTS.get(kind.lower())
    if transport is None:
        return _bad(spec, f"type {kind!r} is not one of stdio, http, sse")
    try:
        if transport == "stdio":
            command = entry.get("command")
            if not isinstance(command, str) or not command.strip():
                return _bad(spec, "a stdio server needs a command")
            return ServerSpec(
                name=spec.name,
                source=source,
                transport="stdio",
                command=command,
                args=tuple(_strings(entry.get("args", []), "args")),
                env=_pairs(entry.get("env", {}), "env"),
            )
        url = entry.get("url")
        if not isinstance(url, str) or not re.match(r"^(https?://|\$\{)", url):
            return _bad(spec, f"a {transport} server needs an http(s) url")
        return ServerSpec(
            name=spec.name,
            source=source,
            transport=transport,  # type: ignore[arg-type]
            url=url,
            headers=_pairs(entry.get("headers", {}), "headers"),
        )
    except ValueError as exc:
        return _bad(spec, str(exc))


def _bad(spec: ServerSpec, problem: str) -> ServerSpec:
    return ServerSpec(name=spec.name, source=spec.source, problem=problem)


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    return [str(v) for v in value]


def _pairs(value: Any, what: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a table of names to strings")
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))
