"""A GBNF grammar that lets a llama.cpp model answer only in text or with one valid tool call.

For servers that take a grammar per request (llama-cpp-python's `grammar` field, llama.cpp's
own server too) and get the tools described in the prompt (`tools_in_prompt`). A tiny model
such as SmolLM2-135M reads tool results fine but rarely starts a `<tool_call>` by itself; with
`call_grammar(specs, required=True)` its reply can only be one Hermes call
(`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`) whose name is an offered tool and
whose arguments follow that tool's schema: required keys first, in order, then any optional
ones. With `required=False` the reply may also be plain text (not starting with `<`).
"""

from __future__ import annotations

import json
import re
from typing import Any

# JSON pieces (a subset of llama.cpp's json.gbnf, with at most one space between tokens: a
# grammar that allows any run of whitespace lets a small model spin on blanks until max_tokens).
_BASE = r"""
ws ::= " "?
jstring ::= "\"" ( [^"\\\x7F\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] ) )* "\""
jinteger ::= "-"? ( "0" | [1-9] [0-9]{0,15} )
jnumber ::= jinteger ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
jboolean ::= "true" | "false"
jvalue ::= jobject | jarray | jstring | jnumber | jboolean | "null"
jobject ::= "{" ws ( jstring ws ":" ws jvalue ( ws "," ws jstring ws ":" ws jvalue )* )? ws "}"
jarray ::= "[" ws ( jvalue ( ws "," ws jvalue )* )? ws "]"
text ::= [^<] [^\x00]*
""".strip()


def _literal(value: Any) -> str:
    """A GBNF string literal matching `value` written as JSON."""
    return json.dumps(json.dumps(value, ensure_ascii=False), ensure_ascii=False)


class _Rules:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}

    def add(self, name: str, body: str) -> str:
        name = re.sub(r"[^a-zA-Z0-9-]", "-", name)
        base, n = name, 1
        while name in self.rules and self.rules[name] != body:
            n += 1
            name = f"{base}{n}"
        self.rules[name] = body
        return name

    def value(self, schema: Any, name: str) -> str:
        """The rule for a value of `schema` (unknown shapes: any JSON value)."""
        if not isinstance(schema, dict):
            return "jvalue"
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.add(name, " | ".join(_literal(v) for v in schema["enum"]))
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind == "string":
            return "jstring"
        if kind == "integer":
            return "jinteger"
        if kind == "number":
            return "jnumber"
        if kind == "boolean":
            return "jboolean"
        if kind == "array":
            item = self.value(schema.get("items"), f"{name}-item")
            return self.add(name, f'"[" ws ( {item} ( ws "," ws {item} )* )? ws "]"')
        if kind == "object" and isinstance(schema.get("properties"), dict):
            return self.obj(schema, name)
        return "jvalue"

    def obj(self, schema: dict[str, Any], name: str) -> str:
        """Required properties first, in schema order; then optional ones, any number."""
        props: dict[str, Any] = schema.get("properties") or {}
        required = [k for k in schema.get("required") or [] if k in props]
        optional = [k for k in props if k not in required]

        def pair(key: str) -> str:
            value = self.value(props[key], f"{name}-{key}")
            return f'{_literal(key)} ws ":" ws {value}'

        parts = [pair(k) for k in required]
        more = self.add(f"{name}-opt", " | ".join(pair(k) for k in optional)) if optional else None
        if parts:
            body = ' ws "," ws '.join(parts)
            if more:
                body += f' ( ws "," ws {more} )*'
        elif more:
            body = f'( {more} ( ws "," ws {more} )* )?'
        else:
            body = ""
        return self.add(name, f'"{{" ws {body} ws "}}"'.replace("ws  ws", "ws"))


def call_grammar(specs: list[dict[str, Any]], *, required: bool = False) -> str:
    """GBNF for one Hermes tool call to one of `specs` (OpenAI tool specs), or, unless
    `required`, plain text instead."""
    rules = _Rules()
    choices = []
    for spec in specs:
        function = spec.get("function") or spec
        name = function.get("name")
        if not name:
            continue
        args = rules.obj({"properties": {}, **(function.get("parameters") or {})}, f"args-{name}")
        choices.append(
            rules.add(
                f"call-{name}", f'{_literal(name)} ws "," ws "\\"arguments\\"" ws ":" ws {args}'
            )
        )
    if not choices:
        return "root ::= text\n" + _BASE + "\n"
    call = (
        '"<tool_call>\\n{" ws "\\"name\\"" ws ":" ws ( '
        + " | ".join(choices)
        + ' ) ws "}\\n</tool_call>"'
    )
    lines = [f"root ::= {'call' if required else 'call | text'}", f"call ::= {call}"]
    lines += [f"{name} ::= {body}" for name, body in rules.rules.items()]
    return "\n".join(lines) + "\n" + _BASE + "\n"
