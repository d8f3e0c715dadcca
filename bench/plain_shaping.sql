-- The project's shaping as one plain DuckDB SQL script, the yardstick for `dbt build` in make bench:
-- read the CSV exports, normalise, validate and mask the CPF, dedupe, join accounts, segment, write the
-- welcome message, join every client to its messages and export the CRM load (Parquet and JSON).
-- No dbt, no Python, no data tests. Placeholders filled by bench/run.py with str.format:
-- {clients_csv}, {accounts_csv}, {messages_parquet}, {export_dir}.
-- The CPF macros (python_udfs/cpf.py) are registered first: they expand to plain SQL.

create or replace table clients as
with

raw_clients as (
    select
        cast(trim(id) as integer) as client_id,
        nullif(trim(regexp_replace(nome, '[\s\x{{00A0}}]+', ' ', 'g')), '') as client_name,
        cpf_normalise("CPF") as cpf
    from read_csv('{clients_csv}', delim = ';', header = true, all_varchar = true)
),

deduplicated as (
    select * from raw_clients
    qualify row_number() over (
        partition by client_id
        order by cpf_is_valid(cpf) desc, cpf is null, client_name is null, client_name, cpf
    ) = 1
),

accounts_per_client as (
    select
        cast(trim(client_id) as integer) as client_id,
        count(*) as account_count,
        sum(cast(balance as decimal(18, 2))) as balance,
        sum(cast(credit_limit as decimal(18, 2))) as credit_limit
    from read_csv('{accounts_csv}', delim = ';', header = true, all_varchar = true)
    group by all
)

select
    c.client_id,
    split_part(c.client_name, ' ', 1) as first_name,
    c.client_name as full_name,
    cpf_mask(c.cpf) as cpf_masked,
    c.cpf is not null as has_cpf,
    cpf_is_valid(c.cpf) as is_cpf_valid,
    case
        when a.account_count is null then 'sem_conta'
        when a.balance <= 0 then 'sem_saldo'
        when a.balance >= 100000 then 'alta_renda'
        when a.balance >= 10000 or a.credit_limit >= 10000 then 'intermediario'
        else 'basico'
    end as segment,
    coalesce(a.account_count, 0) as account_count
from deduplicated as c
left join accounts_per_client as a on c.client_id = a.client_id;

create or replace table client_marketing_messages as
with

welcome as (
    select
        client_id,
        'welcome' as campaign_id,
        0 as round,
        'Olá ' || coalesce(first_name, 'cliente')
        || ', bem vindo ao nosso marketplace! Aproveite nossas ofertas exclusivas!' as message,
        0 as position_group
    from clients
),

generated as (
    select client_id, campaign_id, round, message, 1 as position_group
    from read_parquet('{messages_parquet}')
    where status = 'ok'
),

all_messages as (
    select * from welcome
    union all
    select * from generated
)

select
    c.client_id,
    c.first_name,
    c.cpf_masked,
    m.campaign_id,
    m.round,
    row_number() over (
        partition by c.client_id order by m.position_group, m.campaign_id, m.round
    ) as message_number,
    m.message
from clients as c
inner join all_messages as m on c.client_id = m.client_id;

-- The CRM load, as the project exports it: one row per client with its messages in order (each
-- client's small list sorted after the aggregate, as crm_export does: an ordered aggregate took 3 to 4
-- times as long).
copy (
    select
        client_id,
        any_value(first_name) as first_name,
        any_value(cpf_masked) as cpf_masked,
        list_transform(
            list_sort(list({{
                'message_number': message_number, 'campaign_id': campaign_id, 'round': round,
                'message': message
            }})),
            numbered -> {{'campaign_id': numbered.campaign_id, 'round': numbered.round,
                'message': numbered.message}}
        ) as messages
    from client_marketing_messages
    group by client_id
) to '{export_dir}/crm_export.parquet' (format parquet);

copy (select * from read_parquet('{export_dir}/crm_export.parquet'))
to '{export_dir}/crm_export.json' (format json, array true);
