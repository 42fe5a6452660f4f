"""The DuckDB log: journals, ingest, queries and analysis."""
