"""Functions and generation code the dbt project registers into DuckDB."""
