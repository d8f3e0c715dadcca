"""The analyst's side: the README's pandas example and the campaign review page, on a real run.

One real pipeline run (`python -m python_udfs.pipeline`, csv client source, the openai provider
pointed at the loopback model server failing a share of requests) and a second, smaller `dbt build`
(a new round for two clients only), then the page is rebuilt by the console command. The page's
numbers are checked against SQL over the same tables, its text for CPFs and surnames, its markup
with an HTML parser, and, when Chromium is installed, in a headless browser.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from bs4 import BeautifulSoup

from testkit.llm_server import LLMServer
from tests.reliability_support import (
    CPF_PATTERN,
    PROJECT,
    SURNAMES,
    UUID_SQL_PATTERN,
    cpf_with_check_digits,
    csv_env,
    llm_env,
    run_dbt,
    run_dir,
    run_pipeline,
)

CHROMIUM = Path("/usr/bin/chromium")
# The demo seed's six clients, then three more with surnames: names holding markup (a script, a tag
# and an image with an event handler) and a name with an apostrophe, which the page must escape.
EXTRA_CLIENTS = (
    (7, f"<script>alert(1)</script>Bia {SURNAMES[0]}"),
    (8, f"<b>Rui</b><img/src=x/onerror=alert(1)> {SURNAMES[1]}"),
    (9, f"D'Ávila {SURNAMES[2]}"),
)
# A row the client-file checks set aside (an id that is not a number).
BAD_CLIENT_ROW = "x9;Zé Errado;52998224725"
# One row in ten set aside is more than the default share a build tolerates.
CSV_VARS = "client_source: csv, max_rejected_client_share: 0.2"
SECOND_ROUND_CLIENTS = (2, 7)


def _write_client_files(directory: Path) -> tuple[Path, Path, list[str]]:
    """The demo clients (same ids, names and CPFs as seeds/raw_clients.csv) plus EXTRA_CLIENTS."""
    demo = [line.split(",") for line in (PROJECT / "seeds" / "raw_clients.csv").read_text().splitlines()[1:]]
    rows = [(int(client_id), name, cpf) for client_id, name, cpf in demo]
    rows += [
        (client_id, name, cpf_with_check_digits(235_417_000 + client_id)) for client_id, name in EXTRA_CLIENTS
    ]
    directory.mkdir(parents=True, exist_ok=True)
    clients_csv, accounts_csv = directory / "clients.csv", directory / "accounts.csv"
    clients_csv.write_text(
        "id;nome;CPF\n" + "".join(f"{i};{name};{cpf}\n" for i, name, cpf in rows) + BAD_CLIENT_ROW + "\n",
        encoding="utf-8",
    )
    accounts_csv.write_text(
        "client_id;agency;account_number;balance;credit_limit;card_limit\n"
        + "".join(f"{i};0001;{i:08d}-1;{1000 + i * 10}.00;500.00;300.00\n" for i, _, _ in rows),
        encoding="utf-8",
    )
    return clients_csv, accounts_csv, [cpf for _, _, cpf in rows] + [BAD_CLIENT_ROW.rsplit(";", 1)[1]]


@pytest.fixture(scope="module")
def review_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("review")
    (tmp / "exports").mkdir()
    database = tmp / "data" / "marketing.duckdb"
    clients_csv, accounts_csv, cpfs = _write_client_files(tmp / "imports")
    # One request at a time: the seeded fault sequence falls on the same rows every run.
    with LLMServer(fault_share=0.3, faults=("500", "english"), seed=7) as server:
        env = llm_env(
            tmp,
            server.openai_url,
            MARKETING_DUCKDB_PATH=str(database),
            MARKETING_MAX_CONCURRENCY="1",
            MARKETING_MAX_RETRIES="0",
            MARKETING_MAX_REGENERATIONS="0",
            MARKETING_MAX_FAILURE_SHARE="0.9",
            **csv_env(clients_csv, accounts_csv),
        )
        first = run_pipeline(["--no-show", "--", "--vars", f"{{{CSV_VARS}}}"], env, timeout=900)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
        first_page = (database.parent / "campaign_review.html").read_text(encoding="utf-8")

        server.set_faults(0.0)
        # A second round for two clients, asked for in the environment (the vars, and dbt's parse, stay).
        second_round = {
            "MARKETING_ROUNDS": "2",
            "MARKETING_ONLY_CLIENT_IDS": ",".join(map(str, SECOND_ROUND_CLIENTS)),
        }
        second = run_dbt(
            ["build", "--select", "marketing_messages+", "--vars", f"{{{CSV_VARS}}}"],
            {**env, **second_round},
            timeout=900,
        )
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]

    command = subprocess.run(
        [sys.executable, "-m", "python_udfs.review"],
        cwd=run_dir(env),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert command.returncode == 0, command.stderr
    page_path = Path(command.stdout.strip())
    return {
        "tmp": tmp,
        "env": env,
        "database": database,
        "cpfs": cpfs,
        "first": first,
        "first_page": first_page,
        "page_path": page_path,
        "html": page_path.read_text(encoding="utf-8"),
    }


def _sql(database: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(query).fetchall()


def _soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def _table(soup: BeautifulSoup, table_id: str) -> list[list[str]]:
    table = soup.find("table", id=table_id)
    assert table is not None, f"no table #{table_id}"
    return [[cell.get_text(strip=True) for cell in row.find_all("td")] for row in table.tbody.find_all("tr")]


def _number(text: str) -> int:
    return int(text.replace(",", ""))


# -- pandas -----------------------------------------------------------------------------------------


def _readme_python_example() -> str:
    """The python block of the README's "Querying the results" section, as a reader would copy it."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Querying the results", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section should hold one python example"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_pandas_example_reads_the_results_into_a_dataframe(review_run):
    # Run where a user runs it: the project's root, here a directory whose data/ holds the database.
    result = subprocess.run(
        [sys.executable, "-c", _readme_python_example()],
        cwd=review_run["tmp"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = _sql(
        review_run["database"],
        "select campaign_id, count(*) from client_marketing_messages group by campaign_id order by 1",
    )
    printed = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.M))
    assert {campaign: int(count) for campaign, count in printed.items()} == dict(expected)


@pytest.mark.slow
def test_duckdb_hands_pandas_dataframes(review_run):
    with duckdb.connect(str(review_run["database"]), read_only=True) as connection:
        frame = connection.sql("select * from client_marketing_messages").df()
        (rows,) = connection.execute("select count(*) from client_marketing_messages").fetchone()
    assert type(frame).__module__.startswith("pandas")
    assert len(frame) == rows > 0
    assert {"client_id", "first_name", "cpf_masked", "campaign_id", "message"} <= set(frame.columns)


# -- the page: written by the pipeline, numbers as in SQL ------------------------------------------


@pytest.mark.slow
def test_the_pipeline_writes_the_page_beside_the_database_and_prints_its_path(review_run):
    last_line = review_run["first"].stdout.strip().splitlines()[-1]
    page = review_run["database"].parent / "campaign_review.html"
    assert last_line == f"Campaign review: {page.resolve()}"
    assert "Campaign review" in review_run["first_page"]
    assert review_run["page_path"] == page.resolve()


@pytest.mark.slow
def test_the_run_covers_every_status_the_page_shows(review_run):
    # Otherwise the comparisons below could pass on a page that only ever shows zeros.
    statuses = dict(
        _sql(review_run["database"], "select status, count(*) from marketing_messages group by 1")
    )
    assert statuses.get("ok", 0) and statuses.get("rejected", 0) and statuses.get("error", 0), statuses
    (runs,) = _sql(review_run["database"], "select count(*) from generation_runs")[0]
    assert runs == 2


def _expected_round_counts(database: Path) -> dict[tuple[str, int], Counter]:
    """Per campaign and round: rows by status, and the clients with no row ("no message")."""
    counts: dict[tuple[str, int], Counter] = {}
    for campaign, round_number, status, count in _sql(
        database, "select campaign_id, round, status, count(*) from marketing_messages group by all"
    ):
        counts.setdefault((campaign, round_number), Counter())[status] = count
    (clients,) = _sql(database, "select count(*) from clients")[0]
    for counter in counts.values():
        counter["no_message"] = clients - sum(counter.values())
    return counts


@pytest.mark.slow
def test_the_counts_by_campaign_round_and_status_match_sql(review_run):
    soup = _soup(review_run["html"])
    shown = {}
    for row in soup.find("table", id="summary-table").tbody.find_all("tr"):
        cells = {
            cell["data-status"]: _number(cell.get_text())
            for cell in row.find_all("td", attrs={"data-status": True})
        }
        shown[(row["data-campaign"], int(row["data-round"]))] = Counter({k: v for k, v in cells.items() if v})
    expected = _expected_round_counts(review_run["database"])
    assert shown == {key: +counter for key, counter in expected.items()}
    assert any(counter["no_message"] for counter in expected.values()), "round 2 was for two clients only"

    for status in ("ok", "rejected", "error", "no_message"):
        card = soup.find(attrs={"data-total": status})
        assert _number(card.b.get_text()) == sum(counter[status] for counter in expected.values())
    (without_ok,) = _sql(
        review_run["database"],
        "select count(*) from clients where client_id not in "
        "(select client_id from marketing_messages where status = 'ok')",
    )[0]
    assert _number(soup.find(attrs={"data-total": "clients_without_ok"}).b.get_text()) == without_ok


@pytest.mark.slow
def test_the_reason_charts_match_sql(review_run):
    soup = _soup(review_run["html"])
    bars = {
        (panel["data-campaign"], int(panel["data-round"]), bar["data-status"], bar["data-reason"]): int(
            bar["data-count"]
        )
        for panel in soup.select("article.round")
        for bar in panel.select("svg.reasons g.bar")
    }
    expected = _sql(
        review_run["database"],
        "select campaign_id, round, status, split_part(error_reason, ':', 1), count(*) "
        "from marketing_messages where status <> 'ok' group by all",
    )
    assert bars == {row[:4]: row[4] for row in expected}
    # Each bar is drawn as long as its count says, relative to the longest of its chart.
    for panel in soup.select("article.round"):
        widths = [(int(g["data-count"]), float(g.rect["width"])) for g in panel.select("svg.reasons g.bar")]
        if widths:
            top_count, top_width = max(widths)
            assert all(abs(width - top_width * count / top_count) < 2.01 for count, width in widths)


@pytest.mark.slow
def test_the_clients_without_an_ok_message_match_sql(review_run):
    database = review_run["database"]
    rounds = _sql(database, "select distinct campaign_id, round from marketing_messages")
    clients = [row[0] for row in _sql(database, "select client_id from clients")]
    ok = set(
        _sql(database, "select client_id, campaign_id, round from marketing_messages where status = 'ok'")
    )
    expected = {(client, campaign, r) for client in clients for campaign, r in rounds} - ok
    shown = [(int(row[0]), row[3], int(row[4])) for row in _table(_soup(review_run["html"]), "gaps-table")]
    assert len(shown) == len(set(shown))
    assert set(shown) == expected


@pytest.mark.slow
def test_the_run_ledger_matches_generation_runs(review_run):
    soup = _soup(review_run["html"])
    table = soup.find("table", id="ledger-table")
    shown = [
        {cell["data-key"]: cell.get("title") or cell.get_text(strip=True) for cell in row.find_all("td")}
        for row in table.tbody.find_all("tr")
    ]
    runs = _sql(
        review_run["database"],
        "select run_id, served_from_cache, model_calls, seconds "
        "from generation_runs order by started_at desc",
    )
    assert [row["run_id"] for row in shown] == [run[0] for run in runs]
    assert [_number(row["model_calls"]) for row in shown] == [run[2] for run in runs]
    assert [_number(row["served_from_cache"]) for row in shown] == [run[1] for run in runs]
    assert [float(row["seconds"].replace(",", "")) for row in shown] == pytest.approx(
        [run[3] for run in runs], abs=0.006
    )
    headers = [th.get_text(strip=True) for th in table.thead.find_all("th")]
    assert {"cache hits", "model calls", "seconds"} <= set(headers)


@pytest.mark.slow
def test_every_message_is_listed_client_by_client(review_run):
    rows = _table(_soup(review_run["html"]), "messages-table")
    expected = _sql(
        review_run["database"],
        "select m.client_id, coalesce(c.first_name, ''), coalesce(c.cpf_masked, ''), m.campaign_id, m.round, "
        "coalesce(m.message, ''), m.status, coalesce(m.error_reason, '') "
        "from marketing_messages m left join clients c using (client_id) order by 1, 4, 5",
    )
    shown = [(int(r[0]), r[1], r[2], r[3], int(r[4]), r[5], r[6], r[7]) for r in rows]
    assert shown == [tuple(row) for row in expected]


@pytest.mark.slow
def test_the_client_file_rows_set_aside_match_sql(review_run):
    expected = _sql(
        review_run["database"],
        "select coalesce(nullif(trim(split_part(reason, ':', 1)), ''), 'unknown'), count(*) "
        "from rejected_client_rows group by 1",
    )
    table = _table(_soup(review_run["html"]), "client-file-rows-table")
    shown = [(reason, _number(rows)) for reason, rows in table]
    assert expected and sorted(shown) == sorted(expected)


# -- what the page must not hold -------------------------------------------------------------------


@pytest.mark.slow
def test_the_page_holds_no_raw_cpf_and_no_surname(review_run):
    for html in (review_run["html"], review_run["first_page"]):
        text = _soup(html).get_text(" ")
        # A run's id is a UUID, hex: its digit runs are not CPFs (11 digits in a row about once in 250).
        assert CPF_PATTERN.findall(re.sub(UUID_SQL_PATTERN, "", html)) == []
        assert [cpf for cpf in review_run["cpfs"] if cpf in html or cpf[3:9] in html] == []
        assert [name for name in SURNAMES if name.lower() in html.lower() or name in text] == []
    masked = {row[0] for row in _sql(review_run["database"], "select cpf_masked from clients")}
    assert masked and all(value in review_run["html"] for value in masked)


def _assert_names_are_text(html: str, names: list[str]) -> None:
    soup = _soup(html)
    scripts = soup.find_all("script")
    assert len(scripts) == 1 and "alert(" not in scripts[0].get_text(), "a name became a script"
    assert soup.find_all(["img", "i", "iframe", "object", "embed", "link"]) == []
    shown = {row[1] for row in _table(soup, "messages-table")} | {
        row[1] for row in _table(soup, "gaps-table")
    }
    for name in names:
        assert name in shown, f"{name!r} is not shown as text"
        assert name not in html, f"{name!r} is in the page unescaped"


@pytest.mark.slow
def test_no_markup_from_a_name_reaches_the_page_and_names_are_escaped(review_run):
    names = [
        row[0]
        for row in _sql(review_run["database"], "select first_name from clients")
        if row[0] and re.search(r"[<>&\"']", row[0])
    ]
    assert names, "the client named D'Ávila has a first name the page must escape"
    _assert_names_are_text(review_run["html"], names)


@pytest.mark.slow
def test_markup_in_any_mart_name_is_escaped(review_run, tmp_path):
    """Whatever staging does to names, a name holding markup in `clients` is shown as text."""
    copy = tmp_path / "marketing.duckdb"
    shutil.copy(review_run["database"], copy)
    injected = ["<img src=x onerror=alert(2)>", '"><iframe src=//x>', "Zé & <b>Zi</b>"]
    with duckdb.connect(str(copy)) as connection:
        for client_id, name in zip((1, 2, 9), injected, strict=True):
            connection.execute("update clients set first_name = ? where client_id = ?", [name, client_id])
    page = tmp_path / "page.html"
    from python_udfs.review import write_review

    write_review(copy, output=page)
    _assert_names_are_text(page.read_text(encoding="utf-8"), injected)


@pytest.mark.slow
def test_a_run_with_no_clients_gives_a_page_of_zeros(review_run, tmp_path):
    """A header-only export builds zero clients: the page says so instead of failing."""
    copy = tmp_path / "marketing.duckdb"
    shutil.copy(review_run["database"], copy)
    with duckdb.connect(str(copy)) as connection:
        for table in ("marketing_messages", "clients", "client_marketing_messages", "generation_runs"):
            connection.execute(f"delete from {table}")
    page = tmp_path / "empty.html"
    from python_udfs.review import write_review

    write_review(copy, output=page)
    text = " ".join(_soup(page.read_text(encoding="utf-8")).get_text().split())
    assert "0 client-campaign-rounds without a sendable message, for 0 clients" in text


# -- structure, limits and the browser -------------------------------------------------------------


@pytest.mark.slow
def test_the_page_is_self_contained_and_well_formed(review_run):
    soup = _soup(review_run["html"])
    assert soup.find_all("link") == [] and soup.find_all(src=True) == []
    assert all(a["href"].startswith("#") for a in soup.find_all("a"))
    assert "http://" not in review_run["html"] and "https://" not in review_run["html"]
    assert soup.find("style") and soup.find_all("svg")
    for anchor in soup.find_all("a"):
        assert soup.find(id=anchor["href"][1:]), f"the link {anchor['href']} goes nowhere"
    for table in soup.find_all("table"):
        width = len(table.thead.find_all("th"))
        assert all(len(row.find_all("td")) in (width, 1) for row in table.tbody.find_all("tr")), table["id"]
    # Readable without scripts: the search boxes only appear when the script runs.
    assert all(box.has_attr("hidden") for box in soup.find_all("input"))


@pytest.mark.slow
def test_max_rows_limits_the_lists_not_the_counts(review_run, tmp_path):
    from python_udfs.review import main

    page = tmp_path / "short.html"
    assert main(["--database", str(review_run["database"]), "--output", str(page), "--max-rows", "3"]) == 0
    soup = _soup(page.read_text(encoding="utf-8"))
    full = _soup(review_run["html"])
    assert len(_table(soup, "messages-table")) == 3
    assert len(_table(soup, "gaps-table")) == 3
    assert _table(soup, "summary-table") == _table(full, "summary-table")
    (total,) = _sql(review_run["database"], "select count(*) from marketing_messages")[0]
    note = " ".join(soup.find(id="messages").p.get_text().split())
    assert f"the first 3 of {total}" in note


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no Chromium at /usr/bin/chromium (apt-get install chromium)"
)
def test_the_page_opens_in_a_headless_browser_with_search_and_sort(review_run, tmp_path):
    url = review_run["page_path"].as_uri() + "#q=maria&sort=-round"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    soup = _soup(result.stdout)
    assert soup.html["data-enhanced"] == "true", "the page's script did not run to its end"
    rows = soup.find("table", id="messages-table").tbody.find_all("tr")
    visible = [row for row in rows if not row.has_attr("hidden")]
    assert visible and all("maria" in row.get_text().lower() for row in visible)
    assert len(visible) == sum("maria" in row.get_text().lower() for row in rows) < len(rows)
    rounds = [int(row.find_all("td")[4].get_text()) for row in rows]
    assert rounds == sorted(rounds, reverse=True) and rounds[0] > rounds[-1]
    assert len(soup.find_all("script")) == 1


# -- clear failures --------------------------------------------------------------------------------


def test_a_missing_database_is_one_clear_line(tmp_path, capsys):
    from python_udfs.review import main

    assert main(["--database", str(tmp_path / "nothing.duckdb")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ") and "nothing.duckdb does not exist" in error
    assert "Traceback" not in error
    assert not (tmp_path / "campaign_review.html").exists()


def test_a_database_without_the_marts_is_one_clear_line(tmp_path, capsys):
    from python_udfs.review import main

    database = tmp_path / "marketing.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create table clients as select 1 as client_id")
    assert main(["--database", str(database)]) == 1
    error = capsys.readouterr().err
    assert "has no marketing_messages table" in error and "dbt build" in error
    assert not (tmp_path / "campaign_review.html").exists()
