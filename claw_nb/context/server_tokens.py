"""Counting with the llama.cpp server that will read the prompt: its template, its vocabulary.

llama.cpp's own server (the embedded one on xllamacpp) renders a chat request with the GGUF's
template through its own template engine (`--jinja`) and tokenizes the result with the model's
vocabulary. `POST /apply-template` and `POST /tokenize` return both without evaluating anything
(a few milliseconds each on loopback, answered while a reply is being generated). Counting
through them gives the server's own figure by construction, and needs no tokenizer in this
process: a machine with xllamacpp but without llama-cpp-python counts exactly too.

Only servers claw_nb started itself on 127.0.0.1 are asked (`tokenizers.count_through_server`);
no setting can point counting at another address.
"""

from __future__ import annotations

import json
from typing import Any

TIMEOUT = 10.0  # seconds; a count that takes longer falls back to an estimate
CACHED_TEXTS = 256  # counts kept by text: the tool block and the system prompt recur every step


class ServerTokenizer:
    """Token counts from a running llama.cpp server (llama-server's HTTP API)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._counts: dict[str, int] = {}

    def count(self, text: str) -> int:
        """Tokens of a piece of text, special tokens (`<|im_start|>`) parsed as such."""
        known = self._counts.get(text)
        if known is None:
            known = len(self._tokenize(text, add_special=False))
            if len(self._counts) >= CACHED_TEXTS:
                self._counts.clear()
            self._counts[text] = known
        return known

    def prompt_tokens(self, messages: list[dict[str, Any]]) -> int:
        """Tokens of the prompt the server builds from `messages` for a chat completion: its
        template with the generation prompt, tokenized with BOS as the model asks (what
        `usage.prompt_tokens` reports)."""
        prompt = self._post("/apply-template", {"messages": messages}).get("prompt")
        if not isinstance(prompt, str):
            raise ValueError("the server's /apply-template answered no prompt")
        return len(self._tokenize(prompt, add_special=True))

    def _tokenize(self, text: str, *, add_special: bool) -> list:
        body = {"content": text, "add_special": add_special, "parse_special": True}
        tokens = self._post("/tokenize", body).get("tokens")
        if not isinstance(tokens, list):
            raise ValueError("the server's /tokenize answered no tokens")
        return tokens

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib.request  # only for claw_nb's own server: ~20 ms of imports otherwise

        request = urllib.request.Request(
            self.base_url + path,
            json.dumps(body, ensure_ascii=False).encode("utf-8"),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            answer = json.loads(response.read())
        if not isinstance(answer, dict):
            raise ValueError(f"the server's {path} answered {type(answer).__name__}")
        return answer
