"""A catalogue row that breaks the copy rules fails the build, named with the rules it breaks.

The catalogue's rules are one `rows_follow_rules` test (macros/generic_tests/rows_follow_rules.sql):
a failing row must still say which offer it is and which rule it breaks, as one test per rule did.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.reliability_support import PROJECT, project_env, run_dbt

pytestmark = pytest.mark.slow

# No article, a price, and a benefit past 80 characters (the whole opening still within 120).
BROKEN_OFFER = "gift_99,christmas_gifts,vale,vale de R$ 50,{benefit},basico,true\n".format(benefit="b" * 81)


@pytest.fixture(scope="module")
def catalogue_build(tmp_path_factory):
    project = tmp_path_factory.mktemp("catalogue_project")
    for folder in ("macros", "seeds", "models"):
        shutil.copytree(PROJECT / folder, project / folder)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(PROJECT / name, project / name)
    seed = project / "seeds" / "gift_catalogue.csv"
    seed.write_text(seed.read_text(encoding="utf-8") + BROKEN_OFFER, encoding="utf-8")
    env = project_env(project, DBT_PROJECT_DIR=str(project), DBT_PROFILES_DIR=str(project))
    selection = "gift_catalogue investment_catalogue campaigns stg_marketing__offers stg_marketing__campaigns"
    return run_dbt(["build", "--select", selection], env)


def test_the_broken_offer_fails_the_build_naming_its_rules(catalogue_build):
    out = catalogue_build.stdout
    assert catalogue_build.returncode == 1, out[-3000:]
    failing = re.findall(r"stg_marketing__offers_follow_the_catalogue_rules failing row: (.*)", out)
    assert failing == [
        'offer_id=gift_99, broken_rules=["phrase_opens_with_article", "benefit_at_most_80", '
        '"no_digits_or_prices"]'
    ], out[-3000:]


def test_the_good_catalogue_rows_and_the_campaigns_pass(catalogue_build):
    out = catalogue_build.stdout
    assert "stg_marketing__campaigns_follow_the_rules failing row" not in out
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=1 ", out), out[-3000:]
