"""A notebook executed with a widget transcript (nbclient, as `jupyter nbconvert --execute` runs
it) converts to HTML with the transcript and without the widget's text repr (issue 25, item 6:
`VBox(children=(HBox(children=(HTML(value='<b>claw</b> ...` above every transcript)."""

from __future__ import annotations

import pytest

from claw_nb.testing import call, text, tool_calls

pytestmark = pytest.mark.slow


def test_an_executed_widget_run_converts_to_html_without_the_widget_repr(
    claw_env, tmp_path, monkeypatch
):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    (tmp_path / "a.py").write_text("x = 1\n")
    claw_env.server.queue(
        tool_calls(
            call("edit_file", {"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"})
        ),
        text("Set **x** to two; the final answer is forty-two."),
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext claw_nb"),
        nbformat.v4.new_code_cell("%%claw --ui widget --mode accept-edits\nset x to 2"),
        # the widget run goes on in the background: wait for it, as a person would
        nbformat.v4.new_code_cell(
            "assert get_ipython().magics_manager.registry['ClawMagics']._queue.wait_idle(120)"
        ),
    ]
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = nb.cells[1].outputs
    widget = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget) == 1 and widget[0]["data"]["text/plain"] == ""
    static = [o for o in outputs if "claw-static" in o.get("data", {}).get("text/html", "")]
    assert len(static) == 1 and "forty-two" in static[0]["data"]["text/plain"]
    assert "completed" in static[0]["data"]["text/plain"]  # updated at the end of the run

    html, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    assert "VBox(children=" not in html and "HBox(children=" not in html
    assert "forty-two" in html and "+x = 2" in html
    assert (tmp_path / "a.py").read_text() == "x = 2\n"
