#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pandas as pd
df = pd.read_csv("sales.csv")
out = df.groupby("region", as_index=False)["amount"].sum().rename(columns={"amount": "total"})
out.sort_values("region").to_csv("totals.csv", index=False)
PY
