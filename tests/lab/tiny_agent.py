"""A tiny command-line agent for the lab's tests (standard library only, run by path).

It asks the model at ``$OPENAI_BASE_URL`` ``--calls`` times (streamed with ``--stream``), then
writes the last reply's ``WRITE <file>`` line's following text into that file. Nothing else:
it proves the lab runs an outside agent, routes its calls and counts them.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request


def ask(base: str, messages: list[dict], stream: bool) -> str:
    body = {"model": os.environ.get("OPENAI_MODEL", "x"), "messages": messages, "stream": stream}
    request = urllib.request.Request(
        base.rstrip("/") + "/chat/completions",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": "Bearer " + os.environ.get("OPENAI_API_KEY", ""),
        },
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        if not stream:
            return json.loads(resp.read())["choices"][0]["message"]["content"]
        parts = []
        for line in resp:
            line = line.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            chunk = json.loads(line[5:])
            assert chunk["choices"], "a usage-only chunk reached an agent that did not ask for it"
            parts.append(chunk["choices"][0]["delta"].get("content") or "")
        return "".join(parts)


def main(argv: list[str]) -> int:
    instruction = argv[0]
    stream = "--stream" in argv
    calls = int(argv[argv.index("--calls") + 1]) if "--calls" in argv else 1
    base = os.environ["OPENAI_BASE_URL"]
    messages = [{"role": "system", "content": "TINY"}, {"role": "user", "content": instruction}]
    reply = ""
    for _ in range(calls):
        reply = ask(base, messages, stream)
        messages.append({"role": "assistant", "content": reply})
    head, _, rest = reply.partition("\n")
    if head.startswith("WRITE "):
        with open(head[6:].strip(), "w", encoding="utf-8") as f:
            f.write(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
