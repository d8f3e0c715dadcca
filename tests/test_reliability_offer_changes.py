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


def test_messages_for_a_withdrawn_or_reworded_offer_are_written_again(tmp_path):
    project = copy_project(tmp_path / "project")
    clients_csv, accounts_csv, _ = write_clients(tmp_path / "imports", 4)
    with LLMServer() as llm:
        env = copied_project_env(project, tmp_path, llm.openai_url, clients_csv, accounts_csv)
        database = run_dir(env) / "marketing.duckdb"

        run_main_job(env)
        before = _messages(database)
        assert before and all(offer_id for _, _, offer_id, _ in before.values())

        # A gift taken off the catalogue: its messages are written again, for another gift.
        gift_key, (gift_message, _, gift_id, _) = next(
            (key, value) for key, value in sorted(before.items()) if key[1] == "christmas_gifts"
        )
        calls = llm.requests
        _edit_catalogue(project / "seeds" / "gift_catalogue.csv", gift_id, is_active="false")
        run_main_job(env)
        after = _messages(database)
        withdrawn = {key for key, value in before.items() if value[2] == gift_id}
        assert gift_key in withdrawn
        assert {key for key in after if after[key][2] == gift_id} == set()
        assert set(after) == set(before)
        assert {key: after[key] for key in before if key not in withdrawn} == {
            key: value for key, value in before.items() if key not in withdrawn
        }
        assert llm.requests - calls >= len(withdrawn)
        assert gift_message not in _sent(database)

        # An investment product's benefit reworded: the messages carrying the old wording go too.
        investment_key, (_, _, investment_id, old_offer) = next(
            (key, value) for key, value in sorted(after.items()) if key[1] == "investment_tips"
        )
        reworded = {key for key, value in after.items() if value[2] == investment_id}
        _edit_catalogue(
            project / "seeds" / "investment_catalogue.csv", investment_id, benefit="para o seu futuro"
        )
        run_main_job(env)
        final = _messages(database)
        assert {final[key][3] for key in reworded} == {old_offer.split(",")[0] + ", para o seu futuro"}
        assert all(final[key][1] != after[key][1] for key in reworded)
        assert {key: final[key] for key in after if key not in reworded} == {
            key: value for key, value in after.items() if key not in reworded
        }
        assert investment_key in reworded

        # A client whose balance fell to zero (sem_saldo): an investment product for the intermediario
        # segment no longer suits it, and its message is written again for one that does.
        client_id = investment_key[0]
        accounts = accounts_csv.read_text(encoding="utf-8").splitlines(keepends=True)
        accounts_csv.write_text(
            "".join(
                _with_balance(line, "0.00") if line.startswith(f"{client_id};") else line for line in accounts
            ),
            encoding="utf-8",
        )
        run_main_job(env)
        moved = _messages(database)
        assert _segment(database, client_id) == "sem_saldo"
        new_offer = moved[investment_key][2]
        assert new_offer != final[investment_key][2]
        assert "sem_saldo" in _offer_segments(database, new_offer)
        assert {key: moved[key] for key in final if key[0] != client_id} == {
            key: value for key, value in final.items() if key[0] != client_id
        }

        # Nothing changed since: nothing is asked for again.
        calls = llm.requests
        run_main_job(env)
        assert _messages(database) == moved
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
