#!/usr/bin/env bash
# Verifier: run the task's checks; the share that pass is the reward (partial credit).
cd "$WORKSPACE"
"${PYTHON:-python3}" -m pytest -q -p no:cacheprovider -o addopts="" \
  --junitxml="$REWARD_DIR/junit.xml" "$TESTS_DIR" >"$REWARD_DIR/pytest.txt" 2>&1
"${PYTHON:-python3}" - "$REWARD_DIR" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
out = pathlib.Path(sys.argv[1])
try:
    root = ET.parse(out / "junit.xml").getroot()
except (OSError, ET.ParseError):
    root = None
suite = root if root is None or root.tag == "testsuite" else root.find("testsuite")
total = int(suite.get("tests", 0)) if suite is not None else 0
bad = sum(int(suite.get(k, 0)) for k in ("failures", "errors", "skipped")) if total else 0
(out / "reward.txt").write_text(f"{(total - bad) / total if total else 0:.4f}\n")
PY
