#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pathlib
pathlib.Path("nested.py").write_text('''def flatten(items):
    \"\"\"Flatten nested lists/tuples into one list; strings stay whole.\"\"\"
    out = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
''')
PY
