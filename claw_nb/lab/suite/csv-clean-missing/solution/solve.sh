#!/usr/bin/env bash
set -euo pipefail
"${PYTHON:-python3}" - <<'PY'
import pandas as pd
df = pd.read_csv("people.csv")
df = df[df["name"].notna() & (df["name"].astype(str).str.strip() != "")].copy()
df["name"] = df["name"].str.strip().str.title()
df["age"] = df["age"].fillna(df["age"].median()).astype(int)
df.drop_duplicates().to_csv("clean.csv", index=False)
PY
