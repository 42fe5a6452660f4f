"""A full disk while a session logs (issue 10): no empty journal file per event, no torn line,
and a session that completed is logged as completed once space frees up.

The disk is a real 256 KB tmpfs, mounted in a private mount namespace (``unshare -rm``), that
holds the journals; the database stays on the ordinary filesystem.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import json, os, sys
    from pathlib import Path
    from claw_nb import events as ev
    from claw_nb.log import store
    from claw_nb.log.journal_paths import journal_dir
    from claw_nb.log.journal_reader import list_journals

    cache, db = Path(sys.argv[1]), Path(sys.argv[2])
    directory = journal_dir(db)
    directory.mkdir(parents=True, exist_ok=True)
    filler = cache / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    log = store.EventLog(db, ingest_at_end=False)
    sid = "full-disk"
    log(ev.SessionStarted(sid, model="m", workspace="/ws", task="t", system_prompt="p",
                          system_prompt_sha="0"))
    for seq in range(20):
        log(ev.MessageAdded(sid, seq, {"role": "user", "content": "y" * 2000}))
    files_while_full = len(os.listdir(directory))
    filler.unlink()  # space frees up before the session ends
    log(ev.SessionEnded(sid, "completed", steps=1))
    log.close()
    n = store.ingest(db)
    con = store.connect(db, read_only=True)
    try:
        [(reason,)] = con.execute("SELECT stop_reason FROM sessions").fetchall()
        [(messages,)] = con.execute("SELECT count(*) FROM messages").fetchall()
    finally:
        con.close()
    print(json.dumps({"files_while_full": files_while_full, "failures": log.failures,
                      "ingested": n, "stop_reason": reason, "messages": messages,
                      "left": [p.name for p in list_journals(directory)]}))
""")


def test_a_full_disk_loses_nothing_and_leaves_no_empty_journals(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare (util-linux) to mount a small private tmpfs")
    cache = tmp_path / "cache"
    cache.mkdir()
    db = tmp_path / "db" / "claw.duckdb"
    db.parent.mkdir()
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    shell = (
        f'mount -t tmpfs -o size=256k tmpfs "{cache}" && '
        f'exec "{sys.executable}" "{script}" "{cache}" "{db}"'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "XDG_CACHE_HOME": str(cache),
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
    }
    p = subprocess.run(
        ["unshare", "-rm", "sh", "-c", shell], capture_output=True, text=True, env=env, timeout=120
    )
    if p.returncode != 0 and not p.stdout and "Traceback" not in p.stderr:
        # unshare or mount refused (no user namespaces, a seccomp profile...): not our code
        pytest.skip(f"cannot mount a private tmpfs here: {p.stderr.strip()}")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["files_while_full"] <= 1  # one journal, not one (empty) file per event
    assert out["failures"] >= 1  # the full disk was noticed (warned once)
    assert out["stop_reason"] == "completed"
    assert out["messages"] == 20
    assert out["left"] == []
