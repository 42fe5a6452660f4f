"""Code blocks of an answer, and the front-end script that copies one or inserts it as a cell.

JupyterLab 4 without jupyter-collaboration gives a kernel no way to add a cell to the open
notebook after its cell has finished (`set_next_input` rides on an execute reply). The front end
can: the script below hands the notebook a drop of `application/vnd.jupyter.cells`, the event
JupyterLab's own drag and drop of cells between notebooks sends, so the notebook inserts the
cell below the `%%claw` cell itself, in its own document model (undo works). The script runs as
an `application/javascript` output, which JupyterLab runs for trusted outputs only (everything a
kernel shows in this session is trusted); the copy uses the clipboard API.
"""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"^(`{3,}|~{3,})[ \t]*([\w+.-]*)[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)
_SHELL = ("sh", "bash", "shell", "console", "text", "txt", "diff", "output")


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, in order; blocks of shell or output text are left
    out (they are not cells)."""
    found = []
    for match in _FENCE.finditer(markdown):
        language, code = match.group(2).lower(), match.group(3)
        if language in _SHELL or not code.strip():
            continue
        found.append((language or "python", code.rstrip("\n")))
    return found


def cell_type_for(language: str) -> str:
    return "markdown" if language in ("markdown", "md") else "code"


_INSERT_JS = """
(function () {
  var run = %(run)s, token = %(token)s;
  window.__clawDone = window.__clawDone || {};
  if (window.__clawDone[token]) return;
  window.__clawDone[token] = true;
  var live = document.querySelector('.claw-live-' + run);
  var cell = live && live.closest('.jp-Cell');
  var notebook = live && live.closest('.jp-Notebook');
  if (!cell || !notebook) return;
  function after(node) {
    var n = node.nextElementSibling;
    while (n && !n.classList.contains('jp-Cell')) n = n.nextElementSibling;
    return n;
  }
  var next = after(cell);
  for (var i = 0; i < %(skip)s && next; i++) next = after(next);
  var cells = [{cell_type: %(type)s, source: %(code)s, metadata: {}}];
  if (%(type)s === 'code') { cells[0].outputs = []; cells[0].execution_count = null; }
  var mime = 'application/vnd.jupyter.cells';
  var data = {
    types: function () { return [mime]; },
    hasData: function (m) { return m === mime; },
    getData: function (m) { return m === mime ? cells : undefined; }
  };
  var drop = new Event('lm-drop', {bubbles: true, cancelable: true});
  drop.mimeData = data; drop.proposedAction = 'copy'; drop.supportedActions = 'copy';
  drop.dropAction = 'none'; drop.source = null; drop.clientX = 0; drop.clientY = 0;
  // JupyterLab inserts above the cell marked as the drop target (what a drag-over marks)
  if (next) next.classList.add('jp-mod-dropTarget');
  (next || notebook).dispatchEvent(drop);
})();
"""

_COPY_JS = """
(function () {
  var text = %(code)s;
  if (navigator.clipboard && navigator.clipboard.writeText) {
    navigator.clipboard.writeText(text).catch(function () {});
  }
})();
"""


def insert_script(
    run_id: str, token: str, code: str, cell_type: str = "code", skip: int = 0
) -> str:
    """JavaScript that inserts `code` as a new cell below the cell showing run `run_id` (and
    below the `skip` cells after it)."""
    return _INSERT_JS % {
        "run": json.dumps(run_id),
        "token": json.dumps(token),
        "type": json.dumps(cell_type),
        "code": json.dumps(code),
        "skip": int(skip),
    }


def copy_script(code: str) -> str:
    return _COPY_JS % {"code": json.dumps(code)}
