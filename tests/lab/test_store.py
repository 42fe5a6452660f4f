"""The lab owns its tables: declared in `claw_nb.lab.store`, created by the log's numbered
migrations through its owner hook, read and written only through the store's queries."""

from __future__ import annotations

from pathlib import Path

from claw_nb.lab import optimizer_store, store
from claw_nb.log import schema
from claw_nb.log.database import DEFAULT_TIMEOUT, open_database

LAB_TABLES = ("experiments", "variants", "tasks", "trials", "optimizer_runs", "optimizer_steps")


def test_the_lab_tables_are_the_stores_and_join_the_log_through_the_hook():
    assert tuple(store.TABLES) == LAB_TABLES
    assert not set(LAB_TABLES) & set(schema.TABLES)
    assert "claw_nb.lab.store" in schema.TABLE_OWNERS
    assert set(schema.all_tables()) == set(schema.TABLES) | set(LAB_TABLES)


def test_the_lab_migrations_keep_their_numbers():
    created = {n: " ".join(schema.migration_sql(n)) for n in range(1, schema.SCHEMA_VERSION + 1)}
    for table in ("experiments", "variants", "tasks", "trials"):
        assert f"CREATE TABLE IF NOT EXISTS {table} " in created[5]
    for table in ("optimizer_runs", "optimizer_steps"):
        assert f"CREATE TABLE IF NOT EXISTS {table} " in created[6]
    assert 'ALTER TABLE trials ADD COLUMN IF NOT EXISTS "tamper" JSON' in created[8]
    assert schema.SCHEMA_VERSION >= 8


def test_a_fresh_log_has_the_lab_tables_and_the_queries_answer_on_it(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    con, _ = open_database(db, read_only=False, timeout=DEFAULT_TIMEOUT)
    try:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    finally:
        con.close()
    assert set(LAB_TABLES) <= tables
    assert store.list_experiments(db) == []
    assert store.load_results(db, "none") == []
    assert optimizer_store.run_rows(db) == []
    assert store.seconds_per_trial(db) == (None, 0)
    assert store.count_trials(db, "none") == 0
    assert store.task_difficulties(db, ["a"]) == {}
    assert store.variant_overrides(db, "none") == {}
    assert store.trial_evidence_rows(db, "none", "v", ["a"]) == ([], {})


def test_an_optimizer_run_round_trips(tmp_path: Path):
    db = tmp_path / "lab.duckdb"
    assert optimizer_store.logged_run(db, "r") is None  # no file yet: nothing to read
    assert optimizer_store.start_run(db, "r", "sweep", {"variants": ["base"]}) is None
    assert optimizer_store.start_run(db, "r", "sweep", {}) == {"variants": ["base"]}
    optimizer_store.finish_run(db, "r", "done", "base")
    [row] = optimizer_store.run_rows(db)
    assert dict(zip(store.RUN_COLUMNS, row)) | {"created_at": None} == {
        "run": "r",
        "kind": "sweep",
        "created_at": None,
        "status": "done",
        "best_candidate": "base",
    }
    assert optimizer_store.next_step(db, "r") == 0


def test_no_lab_module_but_the_stores_write_sql():
    root = Path(store.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in sorted(root.rglob("*.py"))
        if path.name not in ("store.py", "optimizer_store.py")
        and "suite" not in path.parts
        and any(word in path.read_text(encoding="utf-8") for word in ("SELECT ", "INSERT INTO"))
    ]
    assert offenders == []
