"""The runner against testkit's server: request counts prove what is called, cached and resumed."""

from __future__ import annotations

import threading

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from python_udfs.errors import GenerationError, TooManyFailures
from python_udfs.generation import Completion, Settings, generate_missing
from python_udfs.generation import replay as replay_module
from python_udfs.generation.keys import RequestKeys
from python_udfs.generation.planning import RunPlan
from testkit.llm_server import LLMServer, portuguese_message
from tests.generation_support import DEMO, cache_connection, campaigns, demo_clients, fake_server_settings


@pytest.fixture
def server():
    with LLMServer() as running:
        yield running


@pytest.fixture
def connection(tmp_path):
    return cache_connection(tmp_path)


def _run(server, connection, existing=None, clients=None, **overrides) -> pa.Table:
    return generate_missing(
        clients if clients is not None else demo_clients(),
        campaigns(),
        existing,
        fake_server_settings(server, **overrides),
        connection=connection,
    )


def _merge(existing: pa.Table | None, new: pa.Table) -> pa.Table:
    """What dbt's delete+insert does with the returned rows."""
    if existing is None:
        return new
    keys = {(r["client_id"], r["campaign_id"], r["round"]) for r in new.to_pylist()}
    kept = [r for r in existing.to_pylist() if (r["client_id"], r["campaign_id"], r["round"]) not in keys]
    return pa.Table.from_pylist(kept + new.to_pylist(), schema=new.schema)


def test_first_run_writes_one_ok_row_per_client_and_a_rerun_calls_nothing(server, connection):
    first = _run(server, connection)
    assert server.requests == 6
    assert first.column("status").to_pylist() == ["ok"] * 6
    rows = first.to_pylist()
    assert all(row["message"].startswith(DEMO[i][1] + ",") for i, row in enumerate(rows))
    assert {row["provider"] for row in rows} == {"openai"}
    assert all(row["prompt_hash"] and row["attempts"] == 1 and not row["is_cached"] for row in rows)
    again = _run(server, connection, existing=first)
    assert again.num_rows == 0
    assert server.requests == 6


def test_a_new_round_calls_once_per_client_and_shows_the_earlier_message(server, connection):
    first = _run(server, connection)
    second = _run(server, connection, existing=first, rounds=2)
    assert server.requests == 12
    assert second.column("round").to_pylist() == [2] * 6
    joao_round_1 = first.to_pylist()[0]["message"]
    assert any(joao_round_1 in body and "«João»" in body for body in server.bodies[6:])


def test_only_client_ids_calls_once(server, connection):
    first = _run(server, connection)
    one = _run(server, connection, existing=first, rounds=2, only_client_ids=(1,))
    assert server.requests == 7
    assert [(r["client_id"], r["round"]) for r in one.to_pylist()] == [(1, 2)]


@pytest.mark.parametrize("chunk_rows", [500_000, 5])
def test_full_refresh_replays_from_the_cache_with_identical_rows(server, connection, monkeypatch, chunk_rows):
    """Whether the replay looks a round (12 rows) up in one query or in chunks of 5."""
    monkeypatch.setattr(replay_module, "_CHUNK_ROWS", chunk_rows)
    built = _run(server, connection, rounds=2, campaigns=None)
    assert server.requests == 24
    # Six answers lose their decisions: the replay settles the rows around them, the runner judges those.
    connection.execute(
        "delete from llm_cache.main.decisions where request_hash in "
        "(select request_hash from llm_cache.main.decisions order by request_hash limit 6)"
    )
    rebuilt = _run(server, connection, rounds=2, campaigns=None)
    assert server.requests == 24
    assert rebuilt.column("message").to_pylist() == built.column("message").to_pylist()
    assert rebuilt.column("status").to_pylist() == ["ok"] * 24
    assert all(rebuilt.column("is_cached").to_pylist())


def test_failures_are_recorded_with_reasons_and_retried_on_the_next_run(server, connection):
    server.set_faults(1.0, ("500",))
    failed = _run(server, connection, max_failure_share=1.0)
    assert failed.column("status").to_pylist() == ["error"] * 6
    assert all(reason.startswith("server_error") for reason in failed.column("error_reason").to_pylist())
    server.set_faults(0.0)
    fixed = _run(server, connection, existing=failed, max_failure_share=1.0)
    assert fixed.column("status").to_pylist() == ["ok"] * 6
    assert server.requests == 12


def test_rejected_answers_are_regenerated_then_recorded(server, connection):
    server.set_faults(1.0, ("url",))
    rows = _run(server, connection, max_failure_share=1.0, max_regenerations=2).to_pylist()
    assert server.requests == 6 * 3
    assert {(r["status"], r["error_reason"], r["attempts"], r["message"]) for r in rows} == {
        ("rejected", "contains_url", 3, None)
    }
    # Replaying rejected rows costs nothing: their answers are cached.
    _run(server, connection, max_failure_share=1.0, max_regenerations=2)
    assert server.requests == 18


def test_too_many_failures_fails_loudly_and_logs_the_run(server, connection):
    server.set_faults(1.0, ("503",))
    with pytest.raises(TooManyFailures, match="server_error 6") as raised:
        _run(server, connection, max_failure_share=0.5)
    assert raised.value.summary == {"server_error": 6}
    log = connection.execute(
        "select status, error, model_calls from llm_cache.main.generation_log"
    ).fetchall()
    assert log == [("failed", 6, 6)]


class _SameAnswer:
    """A provider that always says the same thing: the duplicate check must force new ideas."""

    name, model, style, max_parallel = "fake", "same", "chat", None

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, request):
        with self._lock:
            self.calls += 1
            idea = "um jogo de tabuleiro" if "para não repetir" not in request.prompt.user else "um livro"
        name = request.prompt.user.split("«")[1].split("»")[0]
        return Completion(f"{name}, que tal {idea} para o Natal?", 10, 5, 1.0)


def test_near_duplicates_in_a_round_are_regenerated_in_client_order(connection):
    provider = _SameAnswer()
    rows = generate_missing(
        demo_clients(3),
        campaigns(),
        None,
        {"provider": "openai", "campaigns": "christmas_gifts", "max_failure_share": 1.0},
        connection=connection,
        provider=provider,
    ).to_pylist()
    assert [r["status"] for r in rows] == ["ok", "ok", "rejected"]
    assert rows[0]["message"] == "João, que tal um jogo de tabuleiro para o Natal?"
    assert rows[1]["message"] == "Maria, que tal um livro para o Natal?"
    assert rows[2]["error_reason"] == "duplicate_in_round"


class _InterruptedAfter:
    name, model, style, max_parallel = "fake", "interrupted", "chat", 1

    def __init__(self, answers: int) -> None:
        self.answers = answers

    def complete(self, request):
        if self.answers == 0:
            raise KeyboardInterrupt
        self.answers -= 1
        name = request.prompt.user.split("«")[1].split("»")[0]
        return Completion(f"{name}, que tal uma caneca {self.answers} para o Natal?", 10, 5, 1.0)


def test_ctrl_c_stops_and_keeps_what_was_answered(connection):
    settings = {"provider": "openai", "campaigns": "christmas_gifts"}
    with pytest.raises(KeyboardInterrupt):
        generate_missing(
            demo_clients(), campaigns(), None, settings, connection=connection, provider=_InterruptedAfter(2)
        )
    assert connection.execute("select count(*) from llm_cache.main.responses").fetchone()[0] == 2
    assert connection.execute("select status from llm_cache.main.generation_log").fetchall() == [
        ("interrupted",)
    ]


def test_no_request_carries_a_cpf_surname_id_or_balance(server, connection):
    # Distinctive ids and balances, so that a hit cannot be a number the prompt holds anyway.
    clients = demo_clients().to_pylist()
    for offset, client in enumerate(clients):
        client.update(client_id=7_300_001 + offset, balance=48_211.37 + offset)
    _run(server, connection, clients=pa.Table.from_pylist(clients), rounds=2, campaigns=None)
    assert len(server.bodies) == 24
    for body in server.bodies:
        for client in clients:
            assert client["cpf"] not in body
            assert client["full_name"].split()[-1] not in body
            assert str(client["client_id"]) not in body
            assert str(int(client["balance"])) not in body


class _UnreadableFirst:
    """Each client's first answer is unreadable (a 200 with a broken body); the next one is fine."""

    name, model, style, max_parallel = "fake", "unreadable-first", "chat", None

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def complete(self, request):
        name = request.prompt.user.split("«")[1].split("»")[0]
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
            first = self.calls[name] == 1
        if first:
            raise GenerationError("unreadable answer: JSONDecodeError", reason="bad_response")
        ideas = {"João": "um livro de receitas", "Maria": "uma caneca térmica"}
        idea = ideas.get(name, "um jogo de tabuleiro")
        return Completion(f"{name}, que tal {idea} para o Natal?", 10, 5, 1.0)


def test_an_unreadable_answer_is_asked_again_within_the_run(connection):
    provider = _UnreadableFirst()
    settings = {"provider": "openai", "campaigns": "christmas_gifts", "max_regenerations": 2}
    rows = generate_missing(
        demo_clients(3), campaigns(), None, settings, connection=connection, provider=provider
    ).to_pylist()
    assert [(r["status"], r["attempts"]) for r in rows] == [("ok", 2)] * 3
    assert sum(provider.calls.values()) == 6


def test_cache_keys_and_seeds_stay_what_earlier_versions_stored():
    """A changed key formula would silently turn every cached answer into a miss: one model call
    per row on the next build. These values were stored by the releases before this layout."""
    keys = RequestKeys(
        Settings(provider="openai", seed=42), "openai", "gpt-4o-mini", "chat", prompt_version="v1"
    )
    seed = keys.seed("7|christmas_gifts|2", 1)
    assert seed == 803478999
    assert keys.key_for(0.7, seed, "ab" * 32) == (
        "8b5ff40e9fccc3b300525510b3fd108d7545cc2d91ae81ddc64b219b38480fdc"
    )


class _Echo:
    """Answers every prompt with a distinct message for its name, in either prompt style."""

    max_parallel = 1

    def __init__(self, style: str) -> None:
        self.name, self.model, self.style = "openai", "echo", style
        self.calls = 0

    def complete(self, request):
        self.calls += 1
        prompt = request.prompt
        if prompt.completion is not None:
            name = prompt.answer_prefix.rstrip(",")
        else:
            name = prompt.user.split("«")[1].split("»")[0]
        return Completion(portuguese_message(name, self.calls), 10, 5, 1.0)


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_the_bulk_replay_plans_the_very_keys_the_runner_stored(connection, style):
    """A round's bulk lookup (RequestKeys.first_requests) finds every answer the per-job runner cached."""
    settings = Settings(provider="openai", rounds=2, max_failure_share=1.0)
    provider = _Echo(style)
    built = generate_missing(
        demo_clients(), campaigns(), None, settings, connection=connection, provider=provider
    )
    stored = {
        row[0] for row in connection.execute("select request_hash from llm_cache.main.responses").fetchall()
    }
    plan = RunPlan(demo_clients(), campaigns(), None, settings)
    keys = RequestKeys(settings, "openai", "echo", style)
    planned = set(keys.first_requests(plan.round(1)).to_arrow_table().column("request_hash").to_pylist())
    # Round 2 is planned from round 1's ok messages, as the run did.
    statuses = built.column("status").to_pylist()
    assert statuses == ["ok"] * built.num_rows
    plan.add_output(built.filter(pc.equal(built.column("round"), 1)))
    plan.remember_ok(1)
    planned.update(keys.first_requests(plan.round(2)).to_arrow_table().column("request_hash").to_pylist())
    assert len(planned) == built.num_rows
    assert planned <= stored
    calls = provider.calls
    rebuilt = generate_missing(
        demo_clients(), campaigns(), None, settings, connection=connection, provider=provider
    )
    assert provider.calls == calls
    assert rebuilt.column("message").to_pylist() == built.column("message").to_pylist()


@pytest.mark.parametrize("style", ["chat", "completion"])
def test_set_wise_keys_equal_the_keys_planned_one_row_at_a_time(style):
    """Same name in two segments, no segment, no offer, names DuckDB and Python could spell apart,
    rows continuing from attempt 3, a second round with earlier messages and ideas, a temperature
    override: every row keyed in SQL gets the key and prompt hash `plan` gives it."""
    clients = pa.table(
        {
            "client_id": pa.array([1, 2, 3, 4, 5, 6], pa.int32()),
            "first_name": ["Ana", "Ana", "José Ñandú", "Zoë <b>", "  Li  ", "O'Neil | Ana"],
            "segment": ["basico", "alta_renda", None, "sem_saldo", "basico", "intermediario"],
        }
    )
    offers = pa.table(
        {
            "client_id": pa.array([1, 2, 3, 5], pa.int32()),
            "campaign_id": ["christmas_gifts", "investment_tips", "christmas_gifts", "investment_tips"],
            "round": pa.array([1, 1, 2, 2], pa.int32()),
            "offer": ["uma cafeteira", "o Tesouro Selic", "um livro", None],
        }
    )
    existing = pa.table(
        {
            "client_id": pa.array([4, 6], pa.int32()),
            "campaign_id": ["christmas_gifts", "investment_tips"],
            "round": pa.array([1, 1], pa.int32()),
            "status": ["rejected", "error"],
            "message": pa.array([None, None], pa.string()),
            "attempts": pa.array([2, 3], pa.int32()),
        }
    )
    settings = Settings(provider="openai", rounds=2, temperature=0.35, seed=7)
    plan = RunPlan(clients, campaigns(), existing, settings, offers)
    keys = RequestKeys(settings, "openai", "gpt-x", style)
    try:
        first = plan.round(1)
        first_rows = first.arrow()
        plan.add_output(
            pa.table(
                {
                    "client_id": first_rows.column("client_id"),
                    "campaign_id": first_rows.column("campaign_id"),
                    "round": pa.repeat(pa.scalar(1, pa.int32()), len(first)),
                    "message": [f"Mensagem {n} da rodada um." for n in range(len(first))],
                    "status": pa.repeat(pa.scalar("ok"), len(first)),
                }
            )
        )
        plan.remember_ok(1)
        first_records = _assert_keyed_alike(first, keys)
        assert {row.first_attempt for row in first_records} == {1, 3}
        second_records = _assert_keyed_alike(plan.round(2), keys)
        assert any(row.context.ideas_to_avoid for row in second_records)
    finally:
        plan.close()


def _assert_keyed_alike(round_, keys: RequestKeys) -> list:
    """Every row of `round_` keyed set-wise gets the key and prompt hash `plan` gives it alone."""
    rows = round_.rows_at(list(range(len(round_))))
    one_at_a_time = [keys.plan(row, row.first_attempt) for row in rows]
    set_wise = keys.first_requests(round_).to_arrow_table()
    assert set_wise.column("request_hash").to_pylist() == [p.key for p in one_at_a_time]
    assert set_wise.column("prompt_hash").to_pylist() == [p.prompt_hash for p in one_at_a_time]
    return rows


def test_what_plans_the_rounds_is_freed_once_the_last_round_is_made():
    """A million-client run holds its planning tables only as long as a round is still to be made."""
    settings = Settings(provider="openai", rounds=2)
    plan = RunPlan(demo_clients(), campaigns(), None, settings)
    keys = RequestKeys(settings, "openai", "echo", "chat")
    planning = {"generation_targets", "generation_continued", "generation_messages"}

    def temporary_tables() -> set[str]:
        rows = plan.connection.execute("select table_name from duckdb_tables() where temporary").fetchall()
        return {name for (name,) in rows}

    try:
        keys.first_requests(plan.round(1))
        assert planning <= temporary_tables()
        assert "generation_prompt_hashes" not in temporary_tables()
        plan.remember_ok(1)
        keys.first_requests(plan.round(2))
        assert not planning & temporary_tables()
        assert {"generation_round_2", "generation_round_keys", "generation_output"} <= temporary_tables()
    finally:
        plan.close()


def test_a_replay_trusts_the_stored_decisions_and_rejudges_only_undecided_answers(server, connection):
    built = _run(server, connection, campaigns=None)
    decided = connection.execute("select count(*) from llm_cache.main.decisions").fetchone()[0]
    assert decided == built.num_rows
    # A run stopped before deciding: its answers are cached, their decisions are not.
    connection.execute(
        "delete from llm_cache.main.decisions where request_hash in "
        "(select request_hash from llm_cache.main.decisions limit 4)"
    )
    rebuilt = _run(server, connection, campaigns=None)
    assert server.requests == built.num_rows
    assert rebuilt.column("message").to_pylist() == built.column("message").to_pylist()
    assert rebuilt.column("status").to_pylist() == ["ok"] * built.num_rows
    assert connection.execute("select count(*) from llm_cache.main.decisions").fetchone()[0] == decided


def test_new_answers_are_checked_against_messages_replayed_from_the_cache(connection):
    provider = _SameAnswer()
    settings = {"provider": "openai", "campaigns": "christmas_gifts", "max_failure_share": 1.0}
    first = generate_missing(
        demo_clients(1), campaigns(), None, settings, connection=connection, provider=provider
    )
    assert first.column("status").to_pylist() == ["ok"]
    # A full refresh with a second client: João's row is replayed, Maria's same idea is a duplicate.
    rows = generate_missing(
        demo_clients(2), campaigns(), None, settings, connection=connection, provider=provider
    ).to_pylist()
    assert rows[0]["message"] == first.column("message")[0].as_py() and rows[0]["is_cached"]
    assert rows[1]["message"] == "Maria, que tal um livro para o Natal?"
    assert rows[1]["attempts"] == 2
