"""Cache-break detection: a request that does not begin with the previous one, and where."""

from __future__ import annotations

from claw_nb.request_prefix import PrefixBreak, PrefixTracker, message_hash

TOOLS = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
MORE_TOOLS = [*TOOLS, {"type": "function", "function": {"name": "read_output", "parameters": {}}}]


def conversation(turns: int) -> list[dict]:
    """system, task, then `turns` pairs of an assistant call and its tool result."""
    messages = [
        {"role": "system", "content": "You are claw."},
        {"role": "user", "content": "Fix the bug."},
    ]
    for i in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": f'{{"path": "f{i}"}}'},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"c{i}", "content": f"file {i}"})
    return messages


def test_the_first_request_of_a_session_breaks_nothing():
    assert PrefixTracker().check(conversation(0), TOOLS) is None


def test_a_request_that_extends_the_previous_one_breaks_nothing():
    tracker = PrefixTracker()
    for turns in range(5):
        assert tracker.check(conversation(turns), TOOLS) is None


def test_a_changed_tool_result_is_a_break_at_its_index():
    tracker = PrefixTracker()
    tracker.check(conversation(3), TOOLS)
    pruned = conversation(4)
    pruned[5] = {**pruned[5], "content": "[earlier output of read_file(f1) dropped]"}
    assert tracker.check(pruned, TOOLS) == PrefixBreak(5, "tool", "message changed")


def test_tools_added_mid_session_break_at_the_start():
    tracker = PrefixTracker()
    tracker.check(conversation(1), TOOLS)
    assert tracker.check(conversation(2), MORE_TOOLS) == PrefixBreak(0, "tools", "tools changed")


def test_a_changed_system_prompt_breaks_at_zero():
    tracker = PrefixTracker()
    tracker.check(conversation(1), TOOLS)
    changed = conversation(2)
    changed[0] = {"role": "system", "content": "You are claw. Step 2 of 40."}
    assert tracker.check(changed, TOOLS) == PrefixBreak(0, "system", "system prompt changed")


def test_a_compaction_since_the_last_request_is_the_reason():
    tracker = PrefixTracker()
    tracker.check(conversation(4), TOOLS)
    folded = conversation(0)[:1] + [{"role": "user", "content": "Fix the bug. Summary: ..."}]
    found = tracker.check(folded, TOOLS, compacted="compacted: summary (threshold)")
    assert found == PrefixBreak(1, "user", "compacted: summary (threshold)")


def test_a_compaction_that_left_the_prefix_whole_is_no_break():
    tracker = PrefixTracker()
    tracker.check(conversation(2), TOOLS)
    assert tracker.check(conversation(3), TOOLS, compacted="compacted: prune (threshold)") is None


def test_messages_cut_from_the_end_then_a_new_turn_is_a_break_where_they_were():
    """A rewind: the server keeps the common part; what follows is read again."""
    tracker = PrefixTracker()
    tracker.check(conversation(3), TOOLS)
    rewound = conversation(1) + [{"role": "user", "content": "Try another way."}]
    assert tracker.check(rewound, TOOLS) == PrefixBreak(4, "user", "messages removed")


def test_a_message_inserted_before_old_ones_is_named_so():
    tracker = PrefixTracker()
    tracker.check(conversation(1), TOOLS)
    inserted = conversation(1)
    inserted.insert(2, {"role": "user", "content": "A reminder."})
    inserted += conversation(2)[4:]
    assert tracker.check(inserted, TOOLS) == PrefixBreak(2, "user", "message inserted")


def test_a_request_that_is_a_prefix_of_the_previous_one_breaks_nothing():
    """All of it is still in the server's cache (a retry after dropping the last turn)."""
    tracker = PrefixTracker()
    tracker.check(conversation(3), TOOLS)
    assert tracker.check(conversation(2), TOOLS) is None


def test_each_check_compares_with_the_request_just_before():
    tracker = PrefixTracker()
    tracker.check(conversation(1), TOOLS)
    assert tracker.check(conversation(2), MORE_TOOLS) is not None
    assert tracker.check(conversation(3), MORE_TOOLS) is None  # the new set is now the prefix


def test_a_message_is_the_same_whatever_its_key_order():
    a = {"role": "tool", "tool_call_id": "c1", "content": "x"}
    b = {"content": "x", "tool_call_id": "c1", "role": "tool"}
    assert message_hash(a) == message_hash(b)
    assert message_hash(a) != message_hash({**a, "content": "y"})


def test_a_growing_conversation_hashes_each_message_once(monkeypatch):
    """The same message objects, request after request: only the new ones are hashed."""
    import claw_nb.request_prefix as rp

    hashed: list[dict] = []

    def counting(message):
        hashed.append(message)
        return message_hash(message)

    monkeypatch.setattr(rp, "message_hash", counting)
    messages = conversation(1)
    tracker = PrefixTracker()
    tracker.check(messages, TOOLS)
    hashed.clear()
    messages += conversation(2)[len(messages) :]
    assert tracker.check(messages, TOOLS) is None
    assert [m for m in hashed if "tools" not in m] == messages[4:]


def test_a_content_replaced_in_place_is_still_a_break():
    messages = conversation(3)
    tracker = PrefixTracker()
    tracker.check(messages, TOOLS)
    messages[5]["content"] = "[earlier output dropped]"  # the same dict, changed
    found = tracker.check(messages, TOOLS)
    assert found is not None and (found.index, found.role) == (5, "tool")


def test_the_tool_schemas_hash_is_the_messages_hash_and_follows_a_changed_schema():
    from claw_nb.request_prefix import _tools_hash, message_hash
    from claw_nb.tools import default_tools

    specs = default_tools().specs()
    assert _tools_hash(specs) == message_hash({"tools": specs}) and _tools_hash(specs)
    changed = [*specs[:-1], {**specs[-1], "description": "other"}]
    assert _tools_hash(changed) == message_hash({"tools": changed}) != _tools_hash(specs)
