"""Sharing the log: every table as a Parquet file."""

from __future__ import annotations

import os
from pathlib import Path

from claw_nb.log.analysis.sql import Db, connection

BOOKKEEPING = ("schema_version", "journal_offsets", "journal_sessions")  # not exported


def export_parquet(db: Db = None, directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Write every table of the log as ``<directory>/<table>.parquet``; the files written.

    ``export_parquet(db, directory)``; with one argument it is the directory and the log is
    the default one. Bookkeeping tables (schema version, journal offsets) are left out.
    """
    if directory is None:
        if db is None:
            raise TypeError("export_parquet needs a directory")
        db, directory = None, db
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with connection(db) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                "AND database_name = current_database() ORDER BY table_name"
            ).fetchall()
        ]
        for table in tables:
            if table in BOOKKEEPING or table.startswith("_"):
                continue
            path = out / f"{table}.parquet"
            literal = str(path).replace("'", "''")
            con.execute(f"COPY \"{table}\" TO '{literal}' (FORMAT parquet)")
            written.append(path)
    return written
