"""Tool definitions: a tool is a plain function whose JSON schema is derived from its signature.

A tool function takes a :class:`ToolContext` first, then keyword arguments, and returns the text
the model sees. Its Google-style docstring supplies the description (first paragraph) and the
per-parameter descriptions (``Args:`` section); its type hints supply the JSON schema types.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

from claw_nb.records import record

if TYPE_CHECKING:  # pragma: no cover
    from claw_nb.protocols import CommandRunner

# plan: plan mode's exit_plan_mode; mcp: a tool of an MCP server (claw_nb.mcp), which runs
# outside the sandbox: asks like a command
KINDS = ("read", "edit", "command", "meta", "kernel", "plan", "mcp")


class ToolError(Exception):
    """An expected failure; its message goes back to the model verbatim, so it must say what was
    wrong and what to do."""


class ToolTimeout(ToolError):
    """The tool ran out of time (a command was killed); logged with error kind "timeout"."""


@record
class ToolContext:
    workspace: Path  # resolved absolute path
    runner: CommandRunner
    todos: list[dict] = field(default_factory=list)
    # resolved absolute path (str) -> mtime when the agent last read or wrote it
    read_files: dict[str, float] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    command_timeout: float = 120.0  # seconds a command may run when the call gives no timeout
    # The call being run, set by the dispatch around each call: a tool that starts work of its
    # own (the `task` tool's subagent) links it to the call and authorizes it no wider.
    call_id: str | None = None
    authorize: Any = None  # the authorizer this call runs under (the run's mode), or None
    # The run's stop (a `claw_nb.stop.StopToken`, a callable): a command in progress is
    # killed when it turns true, so a Stop does not wait for `sleep 600` to end.
    stop: Callable[[], bool] | None = None


@record(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict
    func: Callable[..., str]
    kind: str
    # The argument permission rules match (`run_command(pytest*)` -> command, paths for files).
    primary_argument: str | None = None
    # Raises ToolError for a call that cannot succeed (an edit whose text is not in the file):
    # the dispatch answers it with that error before asking anyone (`claw_nb.tool_dispatch`).
    check: Callable[[ToolContext, dict], None] | None = None

    def spec(self) -> dict:
        """The OpenAI function-calling spec of this tool."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def run(self, ctx: ToolContext, arguments: dict) -> str:
        """Call the tool with ``arguments`` (already JSON-decoded).

        Unknown or missing arguments raise :class:`ToolError`; a ``null`` given for a parameter
        that has a default means "use the default".
        """
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ToolError(
                f"arguments for {self.name} must be a JSON object, got {type(arguments).__name__}"
            )
        props = self.parameters.get("properties", {})
        required = self.parameters.get("required", [])
        unknown = sorted(k for k in arguments if k not in props)
        if unknown:
            raise ToolError(
                f"{self.name} got unknown argument(s) {', '.join(unknown)}; "
                f"valid arguments are: {', '.join(props) or '(none)'}"
            )
        kwargs = {}
        for key, value in arguments.items():
            if value is None and key not in required:
                continue  # null for an optional parameter -> its default
            kwargs[key] = value
        missing = [k for k in required if k not in kwargs]
        if missing:
            raise ToolError(f"{self.name} is missing required argument(s): {', '.join(missing)}")
        result = self.func(ctx, **kwargs)
        if not isinstance(result, str):
            result = str(result)
        return result


# ---------------------------------------------------------------------------------------------
# Docstring parsing

_SECTION_RE = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?):\s*$"
)
_ARG_RE = re.compile(r"^(\*{0,2}\w+)\s*(?:\(([^)]*)\))?\s*:\s*(.*)$")


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into (first paragraph, {param: description})."""
    text = inspect.cleandoc(doc or "")
    lines = text.splitlines()
    para: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()):
            break
        para.append(line.strip())
    description = " ".join(para)

    args: dict[str, str] = {}
    in_args = False
    args_indent = 0
    current: str | None = None
    item_indent: int | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        header = _SECTION_RE.match(stripped)
        if header and (not in_args or indent <= args_indent):
            in_args = header.group(1) in ("Args", "Arguments", "Parameters")
            args_indent = indent
            current, item_indent = None, None
            continue
        if not in_args:
            continue
        if not stripped:
            continue
        if indent <= args_indent:
            in_args = False
            continue
        m = _ARG_RE.match(stripped)
        if m and (item_indent is None or indent <= item_indent):
            item_indent = indent
            current = m.group(1).lstrip("*")
            args[current] = m.group(3).strip()
        elif current is not None:
            args[current] = (args[current] + " " + stripped).strip()
    return description, args


# ---------------------------------------------------------------------------------------------
# Type hints -> JSON schema

_SIMPLE = {str: "string", int: "integer", float: "number", bool: "boolean", dict: "object"}


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def type_to_schema(tp: Any) -> dict:
    """Map a type hint to a JSON schema fragment (raises TypeError for unsupported hints)."""
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if tp is list:
        return {"type": "array"}
    if tp is Any:
        return {}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        values = list(args)
        schema: dict = {"enum": values}
        kinds = {type(v) for v in values}
        if len(kinds) == 1 and next(iter(kinds)) in _SIMPLE:
            schema = {"type": _SIMPLE[next(iter(kinds))], "enum": values}
        return schema
    if origin in (Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            inner = type_to_schema(non_none[0])
            if len(non_none) < len(args) and isinstance(inner.get("type"), str):
                inner = {**inner, "type": [inner["type"], "null"]}
            return inner
        return {"anyOf": [type_to_schema(a) for a in args]}
    if origin is list:
        if not args:
            return {"type": "array"}
        return {"type": "array", "items": type_to_schema(args[0])}
    if origin is dict:
        return {"type": "object"}
    if _is_typeddict(tp):
        hints = typing.get_type_hints(tp)
        props = {key: type_to_schema(hint) for key, hint in hints.items()}
        required = [k for k in hints if k in tp.__required_keys__]
        return {
            "type": "object",
            "properties": props,
            "required": required,
            "additionalProperties": False,
        }
    raise TypeError(f"unsupported type hint for a tool parameter: {tp!r}")


def _strip_optional_null(schema: dict) -> dict:
    """Optional parameters are simply omitted; don't advertise null for them."""
    t = schema.get("type")
    if isinstance(t, list) and "null" in t and len(t) == 2:
        return {**schema, "type": next(x for x in t if x != "null")}
    return schema


def derive_tool(func: Callable[..., str], kind: str, name: str | None = None) -> Tool:
    """Build a :class:`Tool` from a function's signature, type hints and docstring."""
    if kind not in KINDS:
        raise ValueError(f"tool kind must be one of {KINDS}, got {kind!r}")
    tool_name = name or func.__name__
    description, arg_docs = parse_docstring(func.__doc__)
    if not description:
        raise ValueError(f"tool {tool_name}: the docstring needs a description paragraph")
    sig = inspect.signature(func)
    hints = typing.get_type_hints(func)
    params = list(sig.parameters.values())
    if not params:
        raise TypeError(f"tool {tool_name}: the first parameter must be the ToolContext")
    properties: dict[str, dict] = {}
    required: list[str] = []
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {tool_name}: *args/**kwargs are not supported")
        if p.name not in hints:
            raise TypeError(f"tool {tool_name}: parameter {p.name!r} has no type hint")
        if p.name not in arg_docs:
            raise ValueError(f"tool {tool_name}: parameter {p.name!r} is not documented in Args:")
        schema = type_to_schema(hints[p.name])
        if p.default is inspect.Parameter.empty:
            required.append(p.name)
        else:
            schema = _strip_optional_null(schema)
            if p.default is not None and isinstance(p.default, (str, int, float, bool)):
                schema["default"] = p.default
        schema["description"] = arg_docs[p.name]
        properties[p.name] = schema
    parameters = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    strings = [name for name, schema in properties.items() if schema.get("type") == "string"]
    primary = "path" if "path" in properties else (strings[0] if strings else None)
    return Tool(
        name=tool_name,
        description=description,
        parameters=parameters,
        func=func,
        kind=kind,
        primary_argument=primary,
    )


def tool(kind: str, name: str | None = None) -> Callable[[Callable[..., str]], Tool]:
    """Decorator turning a documented, type-hinted function into a :class:`Tool`.

    Example::

        @tool("read")
        def read_file(ctx: ToolContext, path: str, offset: int = 1) -> str:
            '''Read a text file.

            Args:
                path: File path relative to the workspace.
                offset: First line to show (1-based).
            '''
    """

    def decorate(func: Callable[..., str]) -> Tool:
        return derive_tool(func, kind, name)

    return decorate


class ToolRegistry:
    """An ordered collection of tools, looked up by name."""

    def __init__(self, tools: Iterable[Tool] = ()):
        self._tools: dict[str, Tool] = {}
        self._specs: list[dict] | None = None
        for t in tools:
            self.add(t)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        self._specs = None

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[dict]:
        """The tools' specs: the same dicts each call until a tool is added, so what is worked
        out from them each step (their JSON, its hash, its token count) is worked out once
        (`specs_json`). Read them; a caller that changes one copies it first."""
        if self._specs is None:
            self._specs = [t.spec() for t in self._tools.values()]
        return list(self._specs)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()!r})"


_specs_json: dict[tuple, tuple[list[dict], str]] = {}


def specs_json(specs: Sequence[dict], **options: Any) -> str:
    """``json.dumps(list(specs), **options)``, remembered for the same spec dicts (by identity,
    as `ToolRegistry.specs` hands them out): each step measured, hashed and counted the same
    schemas again, ~0.3 ms a step."""
    key = (tuple(map(id, specs)), tuple(sorted(options.items())))
    hit = _specs_json.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], specs)):
        return hit[1]
    text = json.dumps(list(specs), **options)
    if len(_specs_json) > 32:
        _specs_json.clear()
    _specs_json[key] = (list(specs), text)
    return text
