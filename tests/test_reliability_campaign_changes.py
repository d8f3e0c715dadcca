"""Marketing changes the campaigns between runs. A campaign switched off: its messages stop going out
(client_marketing_messages, so the CRM export) and no new ones are asked for, while marketing_messages
keeps them. A campaign taken out of the seeds with its catalogue (in the same run): the build goes on
without its rows. Both put back: their messages are replayed from the cache, never asked for again."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.reliability_support import (
    copied_project_env,
    copy_project,
    run_dir,
    run_main_job,
    write_clients,
)

pytestmark = pytest.mark.slow

SWITCHED_OFF, REMOVED = "christmas_gifts", "investment_tips"


def _rows(database: Path, table: str, campaign: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            f"select client_id, round, message from {table} where campaign_id = ? order by all", [campaign]
        ).fetchall()


def _ok_rows(database: Path, campaign: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            "select client_id, round, message from marketing_messages "
            "where campaign_id = ? and status = 'ok' order by all",
            [campaign],
        ).fetchall()


def test_a_campaign_switched_off_another_removed_then_both_back(tmp_path):
    project = copy_project(tmp_path / "project")
    seeds = project / "seeds"
    campaigns, investments = seeds / "campaigns.csv", seeds / "investment_catalogue.csv"
    campaigns_text = campaigns.read_text(encoding="utf-8")
    investments_text = investments.read_text(encoding="utf-8")
    lines = {line.split(",")[0]: line for line in campaigns_text.splitlines()}
    assert lines[SWITCHED_OFF].endswith(",true") and lines[REMOVED].endswith(",true")
    clients_csv, accounts_csv, _ = write_clients(tmp_path / "imports", 2)
    with LLMServer() as llm:
        env = copied_project_env(project, tmp_path, llm.openai_url, clients_csv, accounts_csv)
        database = run_dir(env) / "marketing.duckdb"

        run_main_job(env)
        written = {campaign: _ok_rows(database, campaign) for campaign in (SWITCHED_OFF, REMOVED)}
        for campaign, rows in written.items():
            assert rows and _rows(database, "client_marketing_messages", campaign) == rows
        calls = llm.requests

        off = lines[SWITCHED_OFF][: -len("true")] + "false"
        campaigns.write_text(
            campaigns_text.replace(lines[SWITCHED_OFF], off).replace(lines[REMOVED] + "\n", "")
        )
        investments.write_text(investments_text.splitlines(keepends=True)[0])
        run_main_job(env)
        assert _rows(database, "client_marketing_messages", SWITCHED_OFF) == []
        assert _ok_rows(database, SWITCHED_OFF) == written[SWITCHED_OFF]
        assert _rows(database, "marketing_messages", REMOVED) == []
        assert llm.requests == calls

        campaigns.write_text(campaigns_text)
        investments.write_text(investments_text)
        run_main_job(env)
        for campaign, rows in written.items():
            assert _ok_rows(database, campaign) == rows
            assert _rows(database, "client_marketing_messages", campaign) == rows
        assert llm.requests == calls  # replayed from the cache
