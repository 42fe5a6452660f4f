#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pandas as pd
df = pd.read_csv("events.csv")
df["month"] = df["date"].str[:7]
p = pd.crosstab(df["month"], df["kind"]).sort_index()
p = p[sorted(p.columns)].reset_index()
p.columns.name = None
p.to_csv("pivot.csv", index=False)
PY
