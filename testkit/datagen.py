"""Synthetic client exports for tests and benchmarks: `clients*.csv` and `accounts*.csv`, `;`-delimited.

    python -m testkit.datagen --clients 1000000 --out /tmp/bench/imports

The files have the seeds' shape (`id;nome;CPF` and
`client_id;agency;account_number;balance;credit_limit;card_limit`) and the mess of a real export:

- CPFs: mostly valid 11-digit strings, some punctuated (`123.456.789-09`), some that lost their
  leading zeros in a spreadsheet (10 or 9 digits), and some invalid (wrong check digit, repeated
  digits, empty). No malformed ones (letters, wrong length): the build rejects those on purpose.
- About 1% of client ids appear twice (the same row exported twice).
- One account per distinct client.

Every value is a hash of the client id and the seed, so the output is reproducible and the clients
of ids 1..N are the same whatever N is: a second file with `--first-id N+1` adds new clients without
changing the old ones. Everything is one DuckDB query per file, about a second per million rows.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

__all__ = ["CPF_KIND_SHARES", "GeneratedFiles", "generate"]

FIRST_NAMES = [
    "Ana", "Maria", "João", "José", "Pedro", "Lucas", "Gabriel", "Rafael", "Mateus", "Gustavo",
    "Felipe", "Bruno", "Thiago", "Carlos", "Paulo", "Marcos", "André", "Luiz", "Fernando", "Rodrigo",
    "Daniel", "Eduardo", "Vinícius", "Leonardo", "Ricardo", "Antônio", "Francisco", "Sérgio", "Márcio",
    "Fábio", "Juliana", "Fernanda", "Camila", "Beatriz", "Larissa", "Amanda", "Letícia", "Bruna",
    "Mariana", "Gabriela", "Patrícia", "Aline", "Vanessa", "Jéssica", "Luana", "Carolina", "Lúcia",
    "Sônia", "Conceição", "Francisca", "Adriana", "Cláudia", "Tatiane", "Renata", "Débora", "Raquel",
    "Isabela", "Júlia", "Helena", "Valentina", "Heloísa", "Laura", "Manuela", "Alice", "Sofia",
    "Enzo", "Miguel", "Arthur", "Heitor", "Bernardo", "Davi", "Lorenzo", "Théo", "Benício", "Joaquim",
    "Raimundo", "Sebastião", "Severino", "Edson", "Cícero", "Iara", "Jaciara", "Rosângela", "Luzia",
]  # fmt: skip

SURNAMES = [
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
    "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes",
    "Vieira", "Barbosa", "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques",
    "Machado", "Mendes", "Freitas", "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo",
    "Cavalcanti", "Monteiro", "Moura", "Correia", "Batista", "Campos", "Pinto", "Conceição", "Brandão",
    "Magalhães", "Assunção", "Guimarães", "Falcão", "Sampaio", "Queiroz", "Barros", "Xavier", "Peixoto",
]  # fmt: skip

# Share of each CPF spelling, in thousandths; the order fixes which hash bucket gets which kind.
CPF_KIND_SHARES = {
    "valid": 780,
    "punctuated": 100,
    "lost_one_zero": 40,
    "lost_two_zeros": 10,
    "wrong_check_digit": 55,
    "repeated_digits": 10,
    "empty": 5,
}
DUPLICATE_SHARE_PERCENT = 1


@dataclass(frozen=True)
class GeneratedFiles:
    clients_csv: Path
    accounts_csv: Path
    client_rows: int
    distinct_clients: int
    seconds: float


def _cpf_kind_case() -> str:
    """A SQL `case` turning the per-client bucket (0..999) into one of CPF_KIND_SHARES' kinds."""
    branches, upper = [], 0
    for kind, share in CPF_KIND_SHARES.items():
        upper += share
        branches.append(f"when kind_bucket < {upper} then '{kind}'")
    return "case " + " ".join(branches) + " end"


def _check_digit_sql(number_sql: str, count: int) -> str:
    """SQL for the CPF check digit of the `count`-digit integer `number_sql`.

    The rule: (10 * weighted sum mod 11) mod 10, weights count+1 down to 2 from the leftmost digit.
    Unrolled integer arithmetic: several times faster than list functions over the digit string.
    """
    terms = " + ".join(
        f"(({number_sql}) // {10 ** (count - position)} % 10) * {count + 2 - position}"
        for position in range(1, count + 1)
    )
    return f"((({terms}) * 10) % 11) % 10"


CLIENTS_SQL = f"""
copy (
    with ids as (
        select id, hash(id, $seed, 'kind') % 1000 as kind_bucket
        from range($first_id, $first_id + $count) as t(id)
    ),
    kinds as (
        select id, {_cpf_kind_case()} as kind from ids
    ),
    bases as (
        -- The 9 base digits; for lost zeros the base starts with one or two zeros on purpose.
        select
            id,
            kind,
            case kind
                when 'lost_one_zero' then 10000000 + hash(id, $seed, 'cpf') % 90000000
                when 'lost_two_zeros' then 1000000 + hash(id, $seed, 'cpf') % 9000000
                else 100000000 + hash(id, $seed, 'cpf') % 900000000
            end as base
        from kinds
    ),
    first_check as (
        select *, {_check_digit_sql("base", 9)} as check1 from bases
    ),
    valid_cpfs as (
        select
            *,
            lpad(cast(base as varchar), 9, '0') || check1
            || {_check_digit_sql("base * 10 + check1", 10)} as cpf
        from first_check
    ),
    clients as (
        select
            id,
            list_extract($first_names, 1 + cast(hash(id, $seed, 'first') % len($first_names) as int))
            || ' '
            || list_extract($surnames, 1 + cast(hash(id, $seed, 'last') % len($surnames) as int))
            as nome,
            case kind
                when 'valid' then cpf
                when 'punctuated' then cpf[1:3] || '.' || cpf[4:6] || '.' || cpf[7:9] || '-' || cpf[10:11]
                when 'lost_one_zero' then ltrim(cpf, '0')
                when 'lost_two_zeros' then ltrim(cpf, '0')
                when 'wrong_check_digit' then cpf[1:10] || ((cast(cpf[11] as int) + 1) % 10)
                when 'repeated_digits' then repeat(cast(id % 10 as varchar), 11)
                else ''
            end as cpf
        from valid_cpfs
    ),
    with_duplicates as (
        select id, nome, cpf, 0 as copy from clients
        union all
        select id, nome, cpf, 1 as copy from clients
        where hash(id, $seed, 'duplicate') % 100 < {DUPLICATE_SHARE_PERCENT}
    )
    select id, nome, cpf as "CPF" from with_duplicates order by id, copy
) to '{{path}}' (header, delimiter ';')
"""

ACCOUNTS_SQL = """
copy (
    with accounts as (
        select
            id,
            -- Balances spread log-uniformly from R$ 10 to R$ 1,000,000, with 3% empty accounts.
            case
                when hash(id, $seed, 'empty') % 100 < 3 then 0
                else round(pow(10, 1 + 5 * (hash(id, $seed, 'balance') % 1000000) / 1000000.0), 2)
            end as balance,
            (hash(id, $seed, 'limit') % 100) / 100.0 as limit_share
        from range($first_id, $first_id + $count) as t(id)
    )
    select
        id as client_id,
        lpad(cast(hash(id, $seed, 'agency') % 5000 as varchar), 4, '0') as agency,
        lpad(cast(id as varchar), 8, '0') || '-' || cast(hash(id, $seed, 'dv') % 10 as varchar)
            as account_number,
        cast(balance as decimal(18, 2)) as balance,
        cast(round(balance * limit_share, 0) as decimal(18, 2)) as credit_limit,
        cast(round(balance * limit_share * 0.8, 0) as decimal(18, 2)) as card_limit
    from accounts
    order by id
) to '{path}' (header, delimiter ';')
"""


def generate(
    out_dir: Path, clients: int, *, first_id: int = 1, seed: int = 42, suffix: str = ""
) -> GeneratedFiles:
    """Write `clients{suffix}.csv` and `accounts{suffix}.csv` for ids first_id .. first_id+clients-1."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    clients_csv = out_dir / f"clients{suffix}.csv"
    accounts_csv = out_dir / f"accounts{suffix}.csv"
    parameters = {
        "seed": seed,
        "first_id": first_id,
        "count": clients,
        "first_names": FIRST_NAMES,
        "surnames": SURNAMES,
    }
    with duckdb.connect() as connection:
        connection.execute(CLIENTS_SQL.format(path=clients_csv), parameters)
        connection.execute(
            ACCOUNTS_SQL.format(path=accounts_csv), {k: parameters[k] for k in ("seed", "first_id", "count")}
        )
        client_rows = connection.execute(
            "select count(*) from read_csv(?, delim=';', header=true, all_varchar=true)", [str(clients_csv)]
        ).fetchone()[0]
    return GeneratedFiles(
        clients_csv=clients_csv,
        accounts_csv=accounts_csv,
        client_rows=client_rows,
        distinct_clients=clients,
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m testkit.datagen", description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, required=True, help="number of distinct clients")
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSV files")
    parser.add_argument("--first-id", type=int, default=1, help="id of the first client (default 1)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--suffix", default="", help="file name suffix, e.g. _2 for clients_2.csv")
    args = parser.parse_args(argv)
    files = generate(args.out, args.clients, first_id=args.first_id, seed=args.seed, suffix=args.suffix)
    print(
        f"wrote {files.client_rows:,} client rows ({files.distinct_clients:,} distinct) to "
        f"{files.clients_csv} and {files.accounts_csv} in {files.seconds:.1f} s"
    )


if __name__ == "__main__":
    main()
