"""campaign_offers on the real catalogues and the 120 evaluation clients (every segment): the offer
each message is written for is decided in SQL, suits the client, rotates and spreads."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from evaluation.dataset import dbt_vars
from tests.reliability_support import NO_DATA_TESTS, project_env, run_dbt, run_dir

ROUNDS = 4

pytestmark = pytest.mark.slow


def _build(work_dir: Path) -> duckdb.DuckDBPyConnection:
    env = project_env(work_dir, MARKETING_ROUNDS=str(ROUNDS))
    # The rows are what is checked here; the data tests run in the project's own builds.
    args = ["build", "--select", "+campaign_offers", *NO_DATA_TESTS, "--vars", json.dumps(dbt_vars())]
    result = run_dbt(args, env)
    assert result.returncode == 0, result.stdout[-3000:]
    return duckdb.connect(str(run_dir(env) / "marketing.duckdb"), read_only=True)


@pytest.fixture(scope="module")
def offers(tmp_path_factory):
    with _build(tmp_path_factory.mktemp("offers")) as connection:
        yield connection.execute(
            """
            select o.client_id, o.campaign_id, o.round, o.segment, o.offer_id, o.offer,
                s.segments, c.segment as client_segment
            from campaign_offers as o
            inner join stg_marketing__offers as s using (offer_id)
            inner join clients as c using (client_id)
            where o.client_id between 1001 and 1120
            order by o.campaign_id, o.client_id, o.round
            """
        ).fetchall()


def test_every_client_gets_one_offer_per_campaign_and_round(offers):
    keys = [(client_id, campaign_id, round_) for client_id, campaign_id, round_, *_ in offers]
    assert len(keys) == len(set(keys)) == 120 * 2 * ROUNDS


def test_offers_suit_the_clients_segment(offers):
    for _, _, _, segment, offer_id, _, segments, client_segment in offers:
        assert segment == client_segment
        assert client_segment in segments, (offer_id, client_segment)


def test_a_client_never_gets_the_same_offer_twice(offers):
    """Every segment has at least ROUNDS offers per campaign, so four rounds are four offers."""
    per_client: dict[tuple, list[str]] = {}
    for client_id, campaign_id, _, _, offer_id, *_ in offers:
        per_client.setdefault((client_id, campaign_id), []).append(offer_id)
    assert all(len(set(ids)) == ROUNDS for ids in per_client.values())


def test_offers_spread_across_the_clients_of_a_segment(offers):
    for campaign in ("christmas_gifts", "investment_tips"):
        for segment in ("sem_conta", "sem_saldo", "basico", "intermediario", "alta_renda"):
            first = [row[4] for row in offers if row[1] == campaign and row[3] == segment and row[2] == 1]
            # 24 clients per segment: no offer goes to more than a third of them.
            assert len(set(first)) >= 3 and max(first.count(offer) for offer in first) <= 8


def test_the_opening_reads_the_catalogue_phrase_and_benefit(offers):
    texts = {row[5] for row in offers}
    assert "o Tesouro Selic, para a sua reserva de emergência" in texts
    assert "uma cafeteira elétrica" in texts


def test_the_assignment_is_deterministic(offers, tmp_path):
    with _build(tmp_path) as connection:
        again = connection.execute(
            "select client_id, campaign_id, round, offer_id from campaign_offers "
            "where client_id between 1001 and 1120 order by campaign_id, client_id, round"
        ).fetchall()
    assert again == [(row[0], row[1], row[2], row[4]) for row in offers]
