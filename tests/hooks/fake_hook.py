"""A stand-in for a user's hook program (see scripts.py): its behaviour is its argument."""

import json
import os
import sys
import time

plan = json.loads(sys.argv[1])
text = sys.stdin.read()  # a background child of the hook gets /dev/null
given = json.loads(text) if text else {}
with open(plan["record"], "a", encoding="utf-8") as f:
    f.write(json.dumps(given) + "\n")
marker = plan["record"] + ".ran"
if plan["first"] and os.path.exists(marker):
    sys.exit(0)
open(marker, "w").close()
if plan["pid_file"]:
    with open(plan["pid_file"] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(plan["pid_file"] + ".tmp", plan["pid_file"])
if plan["hang"]:
    while True:  # a hook that never ends: killed at its timeout
        time.sleep(60)
sys.stdout.write(plan["stdout"])
sys.stderr.write(plan["stderr"])
sys.exit(plan["exit"])
