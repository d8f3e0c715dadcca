"""Rows that break a model's rules fail the build, each named with the rules it breaks.

A model's row checks are one `rows_follow_rules` test (macros/generic_tests/rows_follow_rules.sql):
a failing row must still say which row it is and which rule it breaks, as one test per rule did.
One build of a project copy holds a broken catalogue row, a good one with its active flag left
blank (inactive, not an error), and a broken welcome template.
"""

from __future__ import annotations

import re

import duckdb
import pytest

from tests.reliability_support import copy_project, project_env, run_dbt

pytestmark = pytest.mark.slow

# No article, a price, and a benefit past 80 characters (the whole opening still within 120).
BROKEN_OFFER = "gift_99,christmas_gifts,vale,vale de R$ 50,{benefit},basico,true\n".format(benefit="b" * 81)
# A good row whose active flag was left blank: read as inactive, never a failed build.
BLANK_FLAG_OFFER = "gift_98,christmas_gifts,caneca,uma caneca,,basico,\n"
WELCOME_TEMPLATE = "Olá {nome}, bem vindo ao nosso marketplace! Aproveite nossas ofertas exclusivas!"
# Markup and a CPF-like run of digits: both must stop every welcome message.
BROKEN_TEMPLATE = "Olá {nome}! <b>Ofertas</b> para o CPF 123.456.789"


@pytest.fixture(scope="module")
def rules_project(tmp_path_factory):
    return copy_project(tmp_path_factory.mktemp("rules_project"))


@pytest.fixture(scope="module")
def rules_build(rules_project):
    project = rules_project
    gifts = project / "seeds" / "gift_catalogue.csv"
    gifts.write_text(gifts.read_text(encoding="utf-8") + BROKEN_OFFER + BLANK_FLAG_OFFER, encoding="utf-8")
    campaigns = project / "seeds" / "campaigns.csv"
    text = campaigns.read_text(encoding="utf-8")
    assert WELCOME_TEMPLATE in text
    campaigns.write_text(text.replace(WELCOME_TEMPLATE, BROKEN_TEMPLATE), encoding="utf-8")
    env = project_env(project, DBT_PROJECT_DIR=str(project), DBT_PROFILES_DIR=str(project))
    selection = ["--select", "+stg_marketing__offers +welcome_messages", "--indirect-selection", "cautious"]
    return run_dbt(["build", *selection], env)


def test_the_broken_offer_fails_the_build_naming_its_rules(rules_build):
    out = rules_build.stdout
    assert rules_build.returncode == 1, out[-3000:]
    failing = re.findall(r"stg_marketing__offers_follow_the_catalogue_rules failing row: (.*)", out)
    assert failing == [
        'offer_id=gift_99, broken_rules=["phrase_opens_with_article", "benefit_at_most_80", '
        '"no_digits_or_prices"]'
    ], out[-3000:]


def test_each_welcome_message_names_its_client_its_rules_and_hides_the_digits(rules_build):
    failing = re.findall(r"welcome_messages_are_sendable failing row: (.*)", rules_build.stdout)
    assert len(failing) == 5, rules_build.stdout[-3000:]  # the first five of the six clients
    assert failing[0] == (
        "client_id=1, message_digits_hidden=Olá João! <b>Ofertas</b> para o CPF ###.###.###, "
        'broken_rules=["plain_text", "no_cpf_like_digits"]'
    )


def test_the_other_rows_and_models_pass(rules_build):
    out = rules_build.stdout
    assert "stg_marketing__campaigns_follow_the_rules failing row" not in out
    assert "clients_follow_the_rules failing row" not in out
    assert re.search(r"Done\. PASS=\d+ WARN=\d+ ERROR=2 ", out), out[-3000:]


def test_a_blank_active_flag_is_read_as_inactive(rules_build, rules_project):
    with duckdb.connect(str(rules_project / "marketing.duckdb"), read_only=True) as connection:
        flag = connection.execute("select is_active from stg_marketing__offers where offer_id = 'gift_98'")
        assert flag.fetchall() == [(False,)]
    assert "gift_98" not in rules_build.stdout


def test_a_segment_the_catalogue_forgot_fails_naming_its_clients(tmp_path):
    project = copy_project(tmp_path / "project")
    investments = project / "seeds" / "investment_catalogue.csv"
    # The alta_renda segment left out of every investment product (a product for it alone goes):
    # the demo's client 4 is the only one in it.
    header, *rows = investments.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = []
    for row in rows:
        *start, segments, active = row.split(",")
        left = "|".join(segment for segment in segments.split("|") if segment != "alta_renda")
        if left:
            kept.append(",".join([*start, left, active]))
    investments.write_text(header + "".join(kept), encoding="utf-8")
    env = project_env(project, DBT_PROJECT_DIR=str(project), DBT_PROFILES_DIR=str(project))
    result = run_dbt(["build", "--select", "+campaign_offers", "--indirect-selection", "cautious"], env)
    assert result.returncode == 1, result.stdout[-3000:]
    failing = re.findall(r"campaign_offers_one_per_slot failing row: (.*)", result.stdout)
    assert failing == ["client_id=4, campaign_id=investment_tips, round=1, offers=0"], result.stdout[-3000:]
