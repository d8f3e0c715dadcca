"""A later export that differs, as next month's often does. Without a client: the build goes on, its
messages leave marketing_messages (and so every export), and when it comes back its messages are
replayed from the cache, never asked for again. With a client's name corrected (in the same export
as the return): that client's messages are written again, greeting the new name, and no other."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.reliability_support import csv_env, llm_env, run_dir, run_main_job, write_clients

pytestmark = pytest.mark.slow

CLIENTS = 4


def _ok_messages(database: Path) -> dict[int, list[str]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select client_id, message from marketing_messages where status = 'ok' order by all"
        ).fetchall()
    messages: dict[int, list[str]] = {}
    for client_id, message in rows:
        messages.setdefault(client_id, []).append(message)
    return messages


def test_a_client_gone_then_back_and_a_name_corrected_keep_the_build_going(tmp_path):
    clients_csv, accounts_csv, clients = write_clients(tmp_path / "imports", CLIENTS)
    full_export = clients_csv.read_text(encoding="utf-8")
    departed, renamed = clients[-1], clients[1]
    with LLMServer() as llm:
        env = llm_env(tmp_path, llm.openai_url, **csv_env(clients_csv, accounts_csv))
        database = run_dir(env) / "marketing.duckdb"

        def run_with(export: str) -> dict[int, list[str]]:
            clients_csv.write_text(export, encoding="utf-8")
            run_main_job(env)
            return _ok_messages(database)

        first = run_with(full_export)
        assert set(first) == {client["id"] for client in clients}
        calls = llm.requests

        without = run_with(
            "".join(
                line
                for line in full_export.splitlines(keepends=True)
                if not line.startswith(f"{departed['id']};")
            )
        )
        assert set(without) == set(first) - {departed["id"]}

        # Back, in the same export as another client's corrected name: each change is its own.
        back_and_corrected = run_with(
            full_export.replace(f"{renamed['id']};{renamed['first_name']} ", f"{renamed['id']};Xavier ")
        )
        assert back_and_corrected[departed["id"]] == first[departed["id"]]  # replayed from the cache
        assert len(back_and_corrected[renamed["id"]]) == len(first[renamed["id"]])
        assert all("Xavier" in message for message in back_and_corrected[renamed["id"]])
        assert {k: v for k, v in back_and_corrected.items() if k != renamed["id"]} == {
            k: v for k, v in first.items() if k != renamed["id"]
        }
        assert llm.requests - calls == len(first[renamed["id"]])  # only the renamed client's, again
