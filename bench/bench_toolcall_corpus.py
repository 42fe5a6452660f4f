"""Parse rate on the corpus of real replies (tests/toolcalls/corpus): how many call-shaped
replies are run or sent back as a fixable error, and how many answers stay answers.

    python bench/bench_toolcall_corpus.py              # the working tree
    python bench/bench_toolcall_corpus.py --ref 7bdb482  # the parser at an older commit
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "toolcalls" / "corpus"

MEASURE = r"""
import json, sys
from pathlib import Path
from claw_nb.toolcalls import extract_text_tool_calls
shaped = handled = exact = answers = kept = 0
for path in sorted(Path(sys.argv[1]).glob("*.json")):
    case = json.loads(path.read_text())
    _, calls = extract_text_tool_calls(case["reply"], set(case["tools"]))
    if case["expect_calls"] or case["expect_errors"]:
        shaped += 1
        handled += bool(calls)
        good = [{"name": c.name, "arguments": c.arguments} for c in calls
                if getattr(c, "error", None) is None]
        exact += good == case["expect_calls"] and \
            len([c for c in calls if c.error]) == len(case["expect_errors"])
    else:
        answers += 1
        kept += not calls
print(json.dumps({"shaped": shaped, "handled": handled, "exact": exact,
                  "answers": answers, "kept": kept}))
"""


def measure(source_root: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(CORPUS)],
        cwd=source_root,
        env={"PYTHONPATH": str(source_root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", help="measure the parser of this git commit instead")
    args = parser.parse_args()
    if args.ref:
        with tempfile.TemporaryDirectory() as tmp:
            archive = subprocess.run(
                ["git", "archive", args.ref, "claw_nb"], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            figures = measure(Path(tmp))
    else:
        figures = measure(ROOT)
    print(f"corpus: {figures['shaped']} call-shaped replies, {figures['answers']} answers")
    print(
        f"call-shaped replies run or returned as an error: {figures['handled']}/"
        f"{figures['shaped']} ({100 * figures['handled'] / figures['shaped']:.0f}%)"
    )
    print(f"  parsed exactly as expected: {figures['exact']}/{figures['shaped']}")
    print(f"answers left as answers: {figures['kept']}/{figures['answers']}")


if __name__ == "__main__":
    main()
