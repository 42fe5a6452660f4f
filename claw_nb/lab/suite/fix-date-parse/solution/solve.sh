#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pathlib
p = pathlib.Path("dates.py")
s = p.read_text().replace("year, day, month", "year, month, day")
s = s.replace("(parse_iso(a) - parse_iso(b))", "(parse_iso(b) - parse_iso(a))")
p.write_text(s)
PY
