"""The catalogue, or a client, changes between runs. A message written for an offer switched off
since, for an offer whose wording was corrected, or for a product that no longer suits the client's
segment is written again for the offer planned now, in the same build: it never reaches
client_marketing_messages (so the CRM export) again. Every other message stays as it was, and a
run after that asks the model for nothing."""

from __future__ import annotations

import csv
import io
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


def _messages(database: Path) -> dict[tuple, tuple]:
    """Every ok message with its recorded offer: (client, campaign, round) -> (message, generated_at,
    offer_id, offer)."""
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            """
            select m.client_id, m.campaign_id, m.round, m.message, m.generated_at, o.offer_id, o.offer
            from marketing_messages as m
            left join message_offers as o using (client_id, campaign_id, round, generated_at)
            where m.status = 'ok'
            """
        ).fetchall()
    return {row[:3]: row[3:] for row in rows}


def _sent(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return {
            row[0] for row in connection.execute("select message from client_marketing_messages").fetchall()
        }


def _edit_catalogue(path: Path, offer_id: str, **changes: str) -> None:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert any(row["offer_id"] == offer_id for row in rows)
    for row in rows:
        if row["offer_id"] == offer_id:
            row.update(changes)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_messages_for_a_withdrawn_reworded_or_unsuitable_offer_are_written_again(tmp_path):
    project = copy_project(tmp_path / "project")
    clients_csv, accounts_csv, _ = write_clients(tmp_path / "imports", 4)
    with LLMServer() as llm:
        env = copied_project_env(project, tmp_path, llm.openai_url, clients_csv, accounts_csv)
        database = run_dir(env) / "marketing.duckdb"

        run_main_job(env)
        before = _messages(database)
        assert before and all(offer_id for _, _, offer_id, _ in before.values())
        gift_key = min(key for key in before if key[1] == "christmas_gifts")
        investment_key, *_, moved_key = sorted(key for key in before if key[1] == "investment_tips")
        gift_message, _, gift_id, _ = before[gift_key]
        _, _, investment_id, old_offer = before[investment_key]
        assert before[moved_key][2] != investment_id

        # At once: a gift taken off the catalogue, an investment product's benefit reworded, and a
        # client whose balance fell to zero (intermediario to sem_saldo), which the intermediario
        # product of its investment message no longer suits.
        _edit_catalogue(project / "seeds" / "gift_catalogue.csv", gift_id, is_active="false")
        _edit_catalogue(
            project / "seeds" / "investment_catalogue.csv", investment_id, benefit="para o seu futuro"
        )
        moved_client = moved_key[0]
        accounts = accounts_csv.read_text(encoding="utf-8").splitlines(keepends=True)
        accounts_csv.write_text(
            "".join(
                _with_balance(line, "0.00") if line.startswith(f"{moved_client};") else line
                for line in accounts
            ),
            encoding="utf-8",
        )
        calls = llm.requests
        run_main_job(env)
        after = _messages(database)
        assert set(after) == set(before)

        withdrawn = {key for key, value in before.items() if value[2] == gift_id}
        assert gift_key in withdrawn
        assert [key for key, value in after.items() if value[2] == gift_id] == []
        assert gift_message not in _sent(database)

        reworded = {key for key, value in before.items() if value[2] == investment_id}
        assert {after[key][3] for key in reworded} == {old_offer.split(",")[0] + ", para o seu futuro"}

        assert _segment(database, moved_client) == "sem_saldo"
        assert after[moved_key][2] != before[moved_key][2]
        assert "sem_saldo" in _offer_segments(database, after[moved_key][2])

        # Exactly those were written again (the moved client's gift too, if it does not suit
        # sem_saldo); every other message keeps its text and generated_at.
        rewritten = {key for key in before if after[key][:2] != before[key][:2]}
        moved_client_keys = {key for key in before if key[0] == moved_client}
        assert withdrawn | reworded | {moved_key} <= rewritten <= withdrawn | reworded | moved_client_keys
        assert llm.requests - calls >= len(rewritten)

        # Nothing changed since: nothing is asked for again.
        calls = llm.requests
        run_main_job(env)
        assert _messages(database) == after
        assert llm.requests == calls


def _with_balance(accounts_line: str, balance: str) -> str:
    client_id, agency, number, _, *limits = accounts_line.split(";")
    return ";".join([client_id, agency, number, balance, *limits])


def _segment(database: Path, client_id: int) -> str:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute("select segment from clients where client_id = ?", [client_id]).fetchone()[
            0
        ]


def _offer_segments(database: Path, offer_id: str) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(
            "select segments from stg_marketing__offers where offer_id = ?", [offer_id]
        ).fetchone()[0]
