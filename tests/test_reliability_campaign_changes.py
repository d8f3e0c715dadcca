"""Marketing changes the campaigns between runs. A campaign switched off: its messages stop going out
(client_marketing_messages, so the CRM export) and no new ones are asked for, while marketing_messages
keeps them. A campaign taken out of the seeds with its catalogue: the build goes on without its
rows. Put back: its messages are replayed from the cache, never asked for again."""

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

CAMPAIGN = "christmas_gifts"


def _campaign_rows(database: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            f"select client_id, round, message from {table} where campaign_id = ? order by all", [CAMPAIGN]
        ).fetchall()


def _ok_rows(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            "select client_id, round, message from marketing_messages "
            "where campaign_id = ? and status = 'ok' order by all",
            [CAMPAIGN],
        ).fetchall()


def test_a_campaign_switched_off_then_removed_then_back(tmp_path):
    project = copy_project(tmp_path / "project")
    campaigns, gifts = project / "seeds" / "campaigns.csv", project / "seeds" / "gift_catalogue.csv"
    campaigns_text, gifts_text = campaigns.read_text(encoding="utf-8"), gifts.read_text(encoding="utf-8")
    campaign_line = next(line for line in campaigns_text.splitlines() if line.startswith(f"{CAMPAIGN},"))
    assert campaign_line.endswith(",true")
    clients_csv, accounts_csv, _ = write_clients(tmp_path / "imports", 2)
    with LLMServer() as llm:
        env = copied_project_env(project, tmp_path, llm.openai_url, clients_csv, accounts_csv)
        database = run_dir(env) / "marketing.duckdb"

        run_main_job(env)
        written = _ok_rows(database)
        assert written and _campaign_rows(database, "client_marketing_messages") == written
        calls = llm.requests

        campaigns.write_text(campaigns_text.replace(campaign_line, campaign_line[: -len("true")] + "false"))
        run_main_job(env)
        assert _campaign_rows(database, "client_marketing_messages") == []
        assert _ok_rows(database) == written
        assert llm.requests == calls

        campaigns.write_text(campaigns_text.replace(campaign_line + "\n", ""))
        gifts.write_text(gifts_text.splitlines(keepends=True)[0])
        run_main_job(env)
        assert _campaign_rows(database, "marketing_messages") == []

        campaigns.write_text(campaigns_text)
        gifts.write_text(gifts_text)
        run_main_job(env)
        assert _ok_rows(database) == written
        assert _campaign_rows(database, "client_marketing_messages") == written
        assert llm.requests == calls  # replayed from the cache
