#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pathlib
app = pathlib.Path("app.py").read_text()
start = app.index("def parse_pairs")
end = app.index("def main")
pathlib.Path("helpers.py").write_text(app[start:end].rstrip() + "\n")
app = app[:start] + app[end:]
app = app.replace("import sys\n", "import sys\n\nfrom helpers import format_table, parse_pairs\n", 1)
pathlib.Path("app.py").write_text(app)
PY
