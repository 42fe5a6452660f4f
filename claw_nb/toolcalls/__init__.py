"""Tool calls from local models, in whatever shape they arrive.

Local models send broken or double-encoded JSON arguments, or write the call into their text
(Qwen3-Coder XML, Hermes ``<tool_call>`` JSON, fenced JSON, bare JSON objects). This turns all of
that into `ToolCall`s, or says why not in words the model can act on. Stdlib only (jsonschema
lazily, for validation).
"""

from claw_nb.toolcalls.arguments import ToolCall, from_native, new_call_id, parse_arguments
from claw_nb.toolcalls.dialects import extract_text_tool_calls
from claw_nb.toolcalls.schema import coerce_arguments, validate_arguments
from claw_nb.toolcalls.streaming import StreamingToolCallAccumulator

__all__ = [
    "StreamingToolCallAccumulator",
    "ToolCall",
    "coerce_arguments",
    "extract_text_tool_calls",
    "from_native",
    "new_call_id",
    "parse_arguments",
    "validate_arguments",
]
