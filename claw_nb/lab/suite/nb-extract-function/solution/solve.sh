#!/usr/bin/env bash
set -euo pipefail
cat > cleaning.py <<'PY'
def clean(values):
    return [v.strip().lower() for v in values if v is not None and v.strip()]
PY
"${PYTHON:-python3}" - <<'PY'
import json
nb = json.load(open("explore.ipynb"))
nb["cells"][0]["source"] = "from cleaning import clean\nraw_a = [' X', None, 'y ', '']\na = clean(raw_a)"
nb["cells"][1]["source"] = "from cleaning import clean\nraw_b = [None, ' Z ']\nb = clean(raw_b)"
json.dump(nb, open("explore.ipynb", "w"), indent=1)
PY
