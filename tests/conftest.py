"""Fixtures shared by several test files: a loopback model server, and one whole pipeline run that
the tests which only read its results share (one build for the session instead of one per file).

Also how the tests share out under pytest-xdist (`make pytest` runs them on two workers): the tests
of one shared build go to one worker, and the timing-sensitive ones to one worker, one at a time.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from testkit.crm_server import CrmServer, dev_week_user
from testkit.llm_server import LLMServer
from tests.reliability_support import (
    CRM_CLIENTS,
    PIPELINE_CLIENTS,
    csv_env,
    fake_key,
    llm_env,
    run_pipeline,
    share_dbt_parses,
    write_clients,
)

# Module- or session-scoped fixtures that run a whole build or generation run for the tests that only
# read its results. Under xdist every worker would run its own copy: their tests go to one worker.
SHARED_RUNS = (
    "shared_pipeline_run",
    "review_run",
    "hostile_run",
    "faulty_runs",
    "dbt_runs",
    "offers",
    "broken_build",
)


# The tests of the embedded model run by themselves, after the others: `make pytest` collects only
# this folder for them (collecting every test file costs about 5 s of imports).
ALONE_TESTS = Path(__file__).parent / "embedded"


def pytest_itemcollected(item):
    if item.get_closest_marker("alone") and ALONE_TESTS not in item.path.parents:
        raise pytest.UsageError(f"{item.nodeid} is marked alone: move it to {ALONE_TESTS}")
    if item.get_closest_marker("timing_sensitive"):
        item.add_marker(pytest.mark.xdist_group("timing_sensitive"))
        return
    shared = [name for name in SHARED_RUNS if name in getattr(item, "fixturenames", ())]
    if shared:
        item.add_marker(pytest.mark.xdist_group(shared[0]))


# xdist's own `--dist loadgroup` passes each test's group to the scheduler in a suffix of its node id,
# which pytest 9 no longer lets it change (pytest-xdist#1386): every test is then scheduled alone and
# each worker pays for the shared builds. Here each worker writes {node id: group} to a file the
# scheduler reads once every worker has collected.


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["xdist_groups_dir"] = str(_groups_dir(node.config))


def pytest_configure(config):
    # One directory for the whole session, workers included: a dbt parse saved by one run serves the
    # runs with the same vars on either worker.
    directory = getattr(config, "workerinput", {}).get("xdist_groups_dir")
    share_dbt_parses((Path(directory) if directory else _groups_dir(config)) / "dbt-parses")


def pytest_collection_modifyitems(config, items):
    directory = getattr(config, "workerinput", {}).get("xdist_groups_dir")
    if directory:
        groups = {
            item.nodeid: "_".join(sorted(str(mark.args[0]) for mark in item.iter_markers("xdist_group")))
            for item in items
            if item.get_closest_marker("xdist_group")
        }
        path = Path(directory) / f"{config.workerinput['workerid']}.json"
        path.write_text(json.dumps(groups), encoding="utf-8")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    directory = _groups_dir(config)

    class MarkedGroupScheduling(LoadScopeScheduling):
        """Tests of one xdist_group on one worker, one after the other; any other test on its own."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                for path in directory.glob("*.json"):
                    self.groups.update(json.loads(path.read_text(encoding="utf-8")))
            return self.groups.get(nodeid, nodeid)

    return MarkedGroupScheduling(config, log)


def pytest_unconfigure(config):
    if hasattr(config, "_xdist_groups_dir"):
        shutil.rmtree(config._xdist_groups_dir, ignore_errors=True)


def _groups_dir(config) -> Path:
    if not hasattr(config, "_xdist_groups_dir"):
        config._xdist_groups_dir = Path(tempfile.mkdtemp(prefix="xdist-groups-"))
    return config._xdist_groups_dir


@pytest.fixture
def llm_server():
    """The loopback model server (no latency, no faults), for one test."""
    with LLMServer() as running:
        yield running


@pytest.fixture(scope="session")
def shared_pipeline_run(tmp_path_factory) -> dict:
    """`python -m python_udfs.pipeline --push` once, as a user runs it on a fresh directory.

    CSV clients with distinctive surnames, ids, balances and CPFs (so a leak is found by a plain
    search), two more rows whose tests fail under `--store-failures` (an empty name, a wrong check
    digit), the loopback model server with a recognisable API key, and the fake CRM. Tests must only
    read what it left (`tmp`: database, cache, exports, target, logs).
    """
    tmp = tmp_path_factory.mktemp("pipeline")
    # Recognisable, made now: the secrets tests look for it in every file the run left.
    key = fake_key()
    clients_csv, accounts_csv, clients = write_clients(tmp / "imports", PIPELINE_CLIENTS)
    extra = clients[0]["cpf"][:10] + str((int(clients[0]["cpf"][10]) + 1) % 10)
    with clients_csv.open("a", encoding="utf-8") as file:
        file.write(f"7300901;;{clients[1]['cpf'][::-1]}\n7300902;Rui Zubrowska;{extra}\n")
    clients += [
        {"id": 7300901, "cpf": clients[1]["cpf"][::-1], "surname": None},
        {"id": 7300902, "cpf": extra, "surname": "Zubrowska"},
    ]
    ids_csv = tmp / "user_ids.csv"
    ids_csv.write_text("UserID\n" + "".join(f"{c['id']}\n" for c in clients[:CRM_CLIENTS]), encoding="utf-8")
    crm_users = [
        dev_week_user(c["id"], f"{c['first_name']} {c['surname']}", balance=float(c["balance"]))
        for c in clients[:CRM_CLIENTS]
    ]
    with LLMServer() as llm, CrmServer(crm_users, token="crm-test-token") as crm:
        env = llm_env(
            tmp,
            llm.openai_url,
            OPENAI_API_KEY=key,
            CRM_API_URL=crm.url,
            CRM_API_TOKEN="crm-test-token",
            CRM_USER_IDS_CSV=str(ids_csv),
            CRM_BACKOFF_SECONDS="0.01",
            # The secrets tests search the whole log, as dbt writes it by default.
            DBT_LOG_LEVEL_FILE="debug",
            **csv_env(clients_csv, accounts_csv),
        )
        # Two rows of ten are set aside on purpose: above the default 5% that stops a build.
        dbt_vars = "{client_source: csv, max_rejected_client_share: 0.5}"
        result = run_pipeline(["--push", "--", "--vars", dbt_vars, "--store-failures"], env)
        return {
            "tmp": tmp,
            "result": result,
            "clients": clients,
            "key": key,
            "answered": llm.answered,
            "llm_bodies": list(llm.bodies),
            "crm_requests": list(crm.requests),
            "crm_users_after": dict(crm.users),
        }
