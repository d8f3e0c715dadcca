"""The public marts' contracts hold in the database: a column the docs declare never null is a NOT
NULL column of the table, so a null stops that model's build instead of reaching a reader (these
columns carry a constraint rather than a `not_null` data test, which would scan the table again).

Reads what the session's one pipeline run left (`shared_pipeline_run` in conftest.py).
"""

from __future__ import annotations

import json

import duckdb
import pytest

pytestmark = pytest.mark.slow


def _declared_not_null(manifest: dict) -> dict[str, set[str]]:
    declared = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["config"]["contract"]["enforced"]:
            continue
        declared[node["name"]] = {
            name
            for name, column in node["columns"].items()
            if any(constraint["type"] == "not_null" for constraint in column.get("constraints", []))
        }
    return declared


def test_every_column_declared_not_null_is_a_not_null_column(shared_pipeline_run):
    tmp = shared_pipeline_run["tmp"]
    manifest = json.loads((tmp / "target" / "manifest.json").read_text(encoding="utf-8"))
    declared = _declared_not_null(manifest)
    assert {"clients", "client_marketing_messages", "rejected_client_rows"} <= set(declared)
    assert "segment" in declared["clients"] and "message" in declared["client_marketing_messages"]
    with duckdb.connect(str(tmp / "marketing.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "select table_name, unnest(constraint_column_names) from duckdb_constraints() "
            "where constraint_type = 'NOT NULL' and schema_name = 'main'"
        ).fetchall()
    enforced: dict[str, set[str]] = {}
    for table, column in rows:
        enforced.setdefault(table, set()).add(column)
    for model, columns in declared.items():
        assert columns <= enforced.get(model, set()), (model, columns - enforced.get(model, set()))
