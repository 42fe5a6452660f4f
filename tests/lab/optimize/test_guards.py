"""Guards on reflection proposals, the stratified split, and adopting a prompt."""

from __future__ import annotations

import tomllib
from types import SimpleNamespace

import pytest

from claw_nb.errors import ConfigError
from claw_nb.lab.optimize.adopt import adopt, set_top_level
from claw_nb.lab.optimize.guards import CandidateRejected, Guard, TaskText, placeholders
from claw_nb.lab.optimize.split import split_by_names, split_tasks
from claw_nb.prompts import template_text

SEED = template_text("default")
TRAIN = [
    TaskText(
        "fix_csv_parser",
        "The function parse_rows in rows.py drops the last "
        "line of a CSV file when the file does not end with a newline; fix it.",
    )
]


def fenced(text: str) -> str:
    return f"Here is the improved prompt:\n```markdown\n{text}\n```\n"


def improved(extra: str = "- Re-read the task before you answer.") -> str:
    return SEED.replace("$memory", f"{extra}\n$memory")


@pytest.fixture
def guard() -> Guard:
    return Guard.for_seed(SEED, TRAIN)


def test_the_default_prompt_uses_these_placeholders():
    assert placeholders(SEED) == {"workspace", "os", "memory"}


def test_a_complete_general_candidate_passes(guard):
    text = guard.check(fenced(improved()), parent=SEED)
    assert "Re-read the task" in text and "$memory" in text


def test_think_blocks_are_stripped(guard):
    reply = "<think>The agent keeps failing, maybe ``` here\n```</think>\n" + fenced(improved())
    assert "<think>" not in guard.check(reply, parent=SEED)


def test_an_unclosed_think_block_is_rejected(guard):
    with pytest.raises(CandidateRejected, match="think"):
        guard.check("<think>Let me consider the failures... " + fenced(improved()))


def test_a_missing_closing_fence_is_rejected(guard):
    with pytest.raises(CandidateRejected, match="never closed"):
        guard.check("```\n" + improved()[:300])


def test_a_reply_cut_at_the_output_limit_is_rejected(guard):
    with pytest.raises(CandidateRejected, match="output limit"):
        guard.check(fenced(improved()), truncated=True)


def test_a_missing_placeholder_is_rejected(guard):
    with pytest.raises(CandidateRejected, match=r"missing placeholder \$memory"):
        guard.check(fenced(improved().replace("$memory", "the notes")))


def test_a_new_placeholder_is_rejected(guard):
    with pytest.raises(CandidateRejected, match=r"unexpected placeholder \$HOME"):
        guard.check(fenced(improved("- Never write outside $HOME.")))


def test_an_overlong_candidate_is_rejected(guard):
    with pytest.raises(CandidateRejected, match="too long"):
        guard.check(fenced(improved("- Be careful. " * 2000)))


def test_copying_a_training_task_is_rejected(guard):
    copied = "- When parse_rows in rows.py drops the last line of a CSV file, add it back."
    with pytest.raises(CandidateRejected, match="copies text of training task"):
        guard.check(
            fenced(
                improved(
                    "- The function parse_rows in rows.py drops the last "
                    "line of a CSV file, so check it."
                )
            )
        )
    with pytest.raises(CandidateRejected, match="names the training task"):
        guard.check(fenced(improved("- Remember fix_csv_parser.")))
    # Sharing a few common words with a task is not copying.
    assert guard.check(fenced(improved(copied.replace("rows.py drops", "a file loses"))))


def test_an_unchanged_candidate_is_rejected(guard):
    with pytest.raises(CandidateRejected, match="unchanged"):
        guard.check(fenced(SEED), parent=SEED)


def test_a_fenced_example_inside_the_prompt_survives(guard):
    text = improved("- Show diffs like this:\n```diff\n-old\n+new\n```")
    assert "```diff" in guard.check(fenced(text), parent=SEED)


def tasks(spec: dict[str, int]) -> list[SimpleNamespace]:
    return [
        SimpleNamespace(name=f"{level}{i}", difficulty=level, instruction="")
        for level, n in spec.items()
        for i in range(n)
    ]


def test_split_is_stratified_by_difficulty_and_reproducible():
    suite = tasks({"easy": 10, "medium": 10, "hard": 5})
    split = split_tasks(suite, (0.4, 0.3, 0.3), seed=1)
    assert split == split_tasks(list(reversed(suite)), (0.4, 0.3, 0.3), seed=1)
    names = split.names()
    assert sorted(sum(names.values(), [])) == sorted(t.name for t in suite)
    for part, share in (("train", 0.4), ("val", 0.3), ("held_out", 0.3)):
        easy = [n for n in names[part] if n.startswith("easy")]
        assert len(easy) == pytest.approx(10 * share, abs=1)
    assert split_tasks(suite, seed=2) != split


def test_every_split_gets_a_task_even_from_a_tiny_suite():
    split = split_tasks(tasks({"easy": 2, "hard": 1}))
    assert all(len(getattr(split, p)) == 1 for p in ("train", "val", "held_out"))


def test_a_split_by_names_refuses_overlaps():
    suite = tasks({"easy": 3})
    assert split_by_names(suite, ["easy0"], ["easy1"], ["easy2"]).val[0].name == "easy1"
    with pytest.raises(ConfigError, match="already"):
        split_by_names(suite, ["easy0"], ["easy0"], [])


def test_adopt_writes_the_prompt_and_the_settings(tmp_path):
    (tmp_path / ".claw").mkdir()
    (tmp_path / ".claw" / "settings.toml").write_text(
        'model = "ollama_chat/qwen"\nprompt_name = "old"\n\n[sandbox]\nnetwork = false\n'
    )
    adopt("tuned", system_prompt=improved(), settings={"temperature": 0.2}, workspace=tmp_path)
    assert (tmp_path / ".claw/prompts/tuned.md").read_text() == improved()
    settings = tomllib.loads((tmp_path / ".claw/settings.toml").read_text())
    assert settings["prompt_name"] == ".claw/prompts/tuned.md" and settings["temperature"] == 0.2
    assert settings["model"] == "ollama_chat/qwen" and settings["sandbox"] == {"network": False}


def test_set_top_level_quotes_strings():
    assert tomllib.loads(set_top_level("", {"prompt_name": 'a"b'}))["prompt_name"] == 'a"b'


def test_an_adopted_result_is_a_lab_variant_file(tmp_path):
    from claw_nb.lab.variants import Variant

    adopt(
        "tuned",
        system_prompt=improved(),
        tool_descriptions={"grep": 'Search "files".'},
        settings={"max_steps": 12},
        workspace=tmp_path,
    )
    variant = Variant.from_file("tuned", tmp_path / ".claw/prompts/tuned.toml")
    assert variant.system_prompt == improved()
    assert variant.tool_descriptions == {"grep": 'Search "files".'}
    assert variant.max_steps == 12


def test_later_sessions_render_and_name_the_adopted_prompt(tmp_path, monkeypatch):
    from claw_nb.config import load_config
    from claw_nb.prompts import render_system_prompt
    from claw_nb.tools import default_tools

    adopt("tuned", system_prompt=improved("- Adopted habit."), workspace=tmp_path)
    monkeypatch.chdir(tmp_path)
    config = load_config(tmp_path)
    prompt = render_system_prompt(tmp_path, default_tools(), config.prompt_name)
    assert prompt.name == "tuned"
    assert "- Adopted habit." in prompt.text and "$workspace" not in prompt.text
