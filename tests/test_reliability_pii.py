"""What the model server and the CRM receive, and what the database and exports hold.

One whole pipeline run (`python -m python_udfs.pipeline --push`, shared with the secrets tests:
`shared_pipeline_run` in conftest.py) against the loopback model server and the fake CRM, on
clients whose surnames, ids, balances and CPFs are distinctive enough that any leak is found by a
plain search.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from tests.reliability_support import (
    CPF_PATTERN,
    CRM_CLIENTS,
    pii_findings,
    raw_cpfs_in_database,
)
from tests.reliability_support import PIPELINE_CLIENTS as CLIENTS

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline_run(shared_pipeline_run):
    """The session's one pipeline run (conftest.py): these tests only read what it left."""
    return shared_pipeline_run


def test_the_pipeline_ran_and_pushed(pipeline_run):
    result = pipeline_run["result"]
    print(result.stdout[-1500:])
    assert len(pipeline_run["llm_bodies"]) >= CLIENTS * 2
    puts = [r for r in pipeline_run["crm_requests"] if r.method == "PUT"]
    assert len(puts) == CRM_CLIENTS, result.stdout[-3000:] + result.stderr[-3000:]


def test_no_model_request_holds_a_cpf_surname_client_id_or_balance(pipeline_run):
    findings = {}
    for number, body in enumerate(pipeline_run["llm_bodies"]):
        found = pii_findings(body, pipeline_run["clients"])
        if found:
            findings[number] = found
    assert findings == {}


def test_no_crm_request_holds_a_cpf_and_pushed_tips_hold_no_personal_data(pipeline_run):
    clients = pipeline_run["clients"]
    for request in pipeline_run["crm_requests"]:
        assert not CPF_PATTERN.search(request.body), request.path
        for client in clients:
            assert client["cpf"] not in request.body
    # The record a PUT sends back is the CRM's own (its id, name and balance); what the pipeline
    # adds, the news items, must hold nothing personal beyond the first name.
    for user in pipeline_run["crm_users_after"].values():
        for item in user["news"]:
            assert pii_findings(item["description"], clients) == [], item


def test_marts_exports_cache_and_stored_failures_hold_cpfs_only_masked(pipeline_run):
    tmp = pipeline_run["tmp"]
    assert raw_cpfs_in_database(tmp / "marketing.duckdb") == {}
    assert raw_cpfs_in_database(tmp / "llm_cache.duckdb") == {}
    with duckdb.connect(str(tmp / "marketing.duckdb"), read_only=True) as connection:
        stored = connection.execute(
            "select count(*) from duckdb_tables() where schema_name like '%dbt_test__audit'"
        ).fetchone()[0]
        masked = connection.execute("select count(cpf_masked) from clients").fetchone()[0]
    assert stored > 0, "--store-failures stored nothing: the check would be empty"
    assert masked >= CLIENTS


def test_export_files_hold_cpfs_only_masked(pipeline_run):
    exports = pipeline_run["tmp"] / "exports"
    json_text = (exports / "crm_export.json").read_text(encoding="utf-8")
    records = json.loads(json_text)
    assert records and all(r["cpf_masked"] is None or r["cpf_masked"].startswith("***.") for r in records)
    assert CPF_PATTERN.findall(json_text) == []
    with duckdb.connect() as connection:
        parquet_text = connection.execute(
            "select string_agg(cast(columns(*) as varchar), '|') from read_parquet(?)",
            [str(exports / "crm_export.parquet")],
        ).fetchone()
    assert CPF_PATTERN.findall(" ".join(str(value) for value in parquet_text)) == []
    for client in pipeline_run["clients"]:
        assert client["cpf"] not in json_text
