"""How calls, files and prompts look across the ACP boundary (no subprocess)."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("acp")

from claw_nb.acp.client_files import UNSAVED_NOTE, client_read_file  # noqa: E402
from claw_nb.acp.outbox import Outbox  # noqa: E402
from claw_nb.acp.prompt_text import uri_name  # noqa: E402
from claw_nb.acp.tool_views import ClientPaths, edit_diff, title  # noqa: E402
from claw_nb.stop import StopToken  # noqa: E402
from claw_nb.tools import ToolContext, ToolError  # noqa: E402
from claw_nb.tools.files import read_file  # noqa: E402


@pytest.fixture
def linked(tmp_path):
    """A workspace the client names through a symlink (claw resolves it; the editor does not)."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    return ClientPaths(workspace=real.resolve(), client_root=tmp_path / "link")


def test_paths_go_to_the_client_under_the_directory_it_named(linked):
    assert linked.for_client("src/a.py") == str(linked.client_root / "src" / "a.py")
    assert linked.for_client(str(linked.workspace / "b.py")) == str(linked.client_root / "b.py")
    assert linked.resolve(str(linked.client_root / "b.py")) == linked.workspace / "b.py"
    assert linked.resolve("../outside.txt") is None


def test_an_edit_diff_is_the_change_the_tool_will_make(linked):
    (linked.workspace / "a.txt").write_text("x = 1\nx = 1\n")
    one = edit_diff(
        linked, "edit_file", {"path": "a.txt", "old_string": "x = 1", "new_string": "y"}
    )
    every = edit_diff(
        linked,
        "edit_file",
        {"path": "a.txt", "old_string": "x = 1", "new_string": "y", "replace_all": True},
    )
    assert (one.old_text, one.new_text) == ("x = 1\nx = 1\n", "y\nx = 1\n")
    assert every.new_text == "y\ny\n" and every.path == str(linked.client_root / "a.txt")
    new = edit_diff(linked, "write_file", {"path": "new.txt", "content": "hi"})
    assert (new.old_text, new.new_text) == (None, "hi")
    missing = {"path": "a.txt", "old_string": "absent", "new_string": "y"}
    assert edit_diff(linked, "edit_file", missing) is None  # the tool will refuse it
    assert edit_diff(linked, "write_file", {"path": "../x", "content": "no"}) is None


def test_titles_are_one_short_line():
    assert title("run_command", {"command": "pytest -q\n  --lf"}) == "Run pytest -q --lf"
    assert len(title("run_command", {"command": "x" * 500})) == 80
    assert title("grep", {"pattern": "def f"}) == "Search 'def f' in ."


def test_attachment_uris_become_workspace_paths(linked):
    inside = (linked.client_root / "docs" / "a b.md").as_uri()
    assert uri_name(inside, linked) == "docs/a b.md"
    assert uri_name("https://example.invalid/x", linked) == "https://example.invalid/x"


def _ctx(workspace):
    return ToolContext(workspace=workspace, runner=None)


def test_read_file_shows_the_editors_unsaved_text_and_says_so(tmp_path):
    (tmp_path / "a.py").write_text("saved = 1\n")
    tool = client_read_file(lambda path: "unsaved = 2\n")
    result = tool.run(_ctx(tmp_path), {"path": "a.py"})
    assert result == "     1\tunsaved = 2" + UNSAVED_NOTE


def test_read_file_through_the_client_matches_read_file_when_nothing_is_unsaved(tmp_path):
    (tmp_path / "a.py").write_text("line\r\n" * 3000)
    tool = client_read_file(lambda path: "line\n" * 3000)  # an editor that hands over LF
    for arguments in ({"path": "a.py"}, {"path": "a.py", "offset": 2990, "limit": 5}):
        assert tool.run(_ctx(tmp_path), arguments) == read_file.run(_ctx(tmp_path), arguments)


def test_read_file_falls_back_to_the_disk_when_the_client_fails(tmp_path):
    (tmp_path / "a.py").write_text("saved\n")

    def broken(path):
        raise ConnectionError("client went away")

    assert client_read_file(broken).run(_ctx(tmp_path), {"path": "a.py"}) == "     1\tsaved"
    with pytest.raises(ToolError, match="does not exist"):
        client_read_file(lambda path: "ghost").run(_ctx(tmp_path), {"path": "nope.py"})


def test_the_outbox_keeps_order_and_asks_after_what_was_queued():
    sent: list[str] = []

    async def scenario():
        async def send(update):
            await asyncio.sleep(0)  # a real send yields to the loop
            sent.append(update)

        outbox = Outbox(send)

        def agent_thread():
            for i in range(50):
                outbox.put(f"u{i}")

            async def ask():
                return list(sent)

            return outbox.call(ask)

        seen = await asyncio.to_thread(agent_thread)
        await outbox.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [f"u{i}" for i in range(50)] == sent


def test_a_stop_cancels_a_question_the_thread_waits_on():
    import concurrent.futures

    async def scenario():
        async def send(update):
            pass

        outbox = Outbox(send)
        stop = StopToken()
        pending = threading.Event()
        never = asyncio.Event()

        async def unanswered():
            pending.set()
            await never.wait()

        def user_cancels():  # elsewhere, once the question is pending
            pending.wait()
            stop.stop("the user cancelled")

        def agent_thread():
            threading.Thread(target=user_cancels).start()
            with pytest.raises(concurrent.futures.CancelledError):
                outbox.call(unanswered, stop=stop)
            return True

        done = await asyncio.to_thread(agent_thread)
        await outbox.close()
        return done

    assert asyncio.run(scenario())


def test_text_goes_out_once_whether_the_reply_was_streamed_or_not(tmp_path):
    from types import SimpleNamespace

    from claw_nb import events as ev
    from claw_nb.acp.updates import UpdateStream

    sent = []
    paths = ClientPaths(tmp_path, tmp_path)
    stream = UpdateStream(SimpleNamespace(put=sent.append), paths, lambda name: None, lambda: 0)
    stream(ev.MessageAdded("s", seq=1, message={"role": "assistant", "content": "whole"}))
    stream(ev.TextDelta("s", step=2, text="str"))
    stream(ev.TextDelta("s", step=2, text="eamed"))
    stream(ev.MessageAdded("s", seq=2, message={"role": "assistant", "content": "streamed"}))
    stream(ev.MessageAdded("s", seq=3, message={"role": "user", "content": "not ours to echo"}))
    assert [u.content.text for u in sent] == ["whole", "str", "eamed"]
