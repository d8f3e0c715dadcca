"""A later export that differs, as next month's often does. Without some clients: the build goes on,
their messages leave marketing_messages (and so every export), and when they come back their
messages are replayed from the cache, never asked for again. With a client's name corrected: that
client's messages are written again, greeting the new name."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from testkit.llm_server import LLMServer
from tests.reliability_support import csv_env, csv_vars, llm_env, run_dir, run_pipeline, write_clients

pytestmark = pytest.mark.slow

CLIENTS = 4


def _clients_with_messages(database: Path) -> set[int]:
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("select distinct client_id from marketing_messages").fetchall()
    return {client_id for (client_id,) in rows}


def test_a_client_missing_from_a_later_export_leaves_and_comes_back_from_the_cache(tmp_path):
    clients_csv, accounts_csv, clients = write_clients(tmp_path / "imports", CLIENTS)
    full_export = clients_csv.read_text(encoding="utf-8")
    departed = clients[-1]["id"]
    without_departed = "".join(
        line for line in full_export.splitlines(keepends=True) if not line.startswith(f"{departed};")
    )
    with LLMServer() as llm:
        env = llm_env(tmp_path, llm.openai_url, **csv_env(clients_csv, accounts_csv))
        database = run_dir(env) / "marketing.duckdb"
        args = ["--no-show", "--", *csv_vars()]

        first = run_pipeline(args, env)
        assert first.returncode == 0, first.stdout[-3000:]
        assert _clients_with_messages(database) == {client["id"] for client in clients}
        calls = llm.requests

        clients_csv.write_text(without_departed, encoding="utf-8")
        later = run_pipeline(args, env)
        assert later.returncode == 0, later.stdout[-3000:]
        assert departed not in _clients_with_messages(database)
        assert len(_clients_with_messages(database)) == CLIENTS - 1

        clients_csv.write_text(full_export, encoding="utf-8")
        back = run_pipeline(args, env)
        assert back.returncode == 0, back.stdout[-3000:]
        assert departed in _clients_with_messages(database)
        assert llm.requests == calls


def _messages_of(database: Path, client_id: int) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select message from marketing_messages where client_id = ? and status = 'ok'", [client_id]
        ).fetchall()
    return [message for (message,) in rows]


def test_a_name_corrected_in_a_later_export_gets_messages_that_greet_the_new_name(tmp_path):
    clients_csv, accounts_csv, clients = write_clients(tmp_path / "imports", CLIENTS)
    renamed = clients[1]
    old_line = f"{renamed['id']};{renamed['first_name']} "
    new_line = f"{renamed['id']};Xavier "
    with LLMServer() as llm:
        env = llm_env(tmp_path, llm.openai_url, **csv_env(clients_csv, accounts_csv))
        database = run_dir(env) / "marketing.duckdb"
        args = ["--no-show", "--", *csv_vars()]

        first = run_pipeline(args, env)
        assert first.returncode == 0, first.stdout[-3000:]
        before = _messages_of(database, renamed["id"])
        assert before and all(renamed["first_name"] in message for message in before)
        calls = llm.requests

        clients_csv.write_text(
            clients_csv.read_text(encoding="utf-8").replace(old_line, new_line), encoding="utf-8"
        )
        later = run_pipeline(args, env)
        assert later.returncode == 0, later.stdout[-3000:]
        after = _messages_of(database, renamed["id"])
        assert len(after) == len(before) and all("Xavier" in message for message in after)
        # Only the renamed client's messages were asked for again.
        assert llm.requests - calls == len(before)
