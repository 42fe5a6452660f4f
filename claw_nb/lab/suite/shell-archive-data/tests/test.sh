#!/usr/bin/env bash
# Verifier: run the task's checks; the share that pass is the reward (partial credit).
# "$LAB_PYTEST" is pytest isolated from the workspace, and the ini, rootdir and conftest cut
# are the task's own, so nothing the agent wrote (pytest.py, conftest.py, pytest.ini,
# sitecustomize.py) takes part in the verdict (docs/lab.md, "The verifier's isolation").
cd "$WORKSPACE"
"$PYTHON" -I "$LAB_PYTEST" -q -c "$LAB_PYTEST_INI" --rootdir "$TESTS_DIR" \
  --confcutdir "$TESTS_DIR" --junitxml="$REWARD_DIR/junit.xml" "$TESTS_DIR" \
  >"$REWARD_DIR/pytest.txt" 2>&1
"$PYTHON" -I - "$REWARD_DIR" <<'PY'
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
