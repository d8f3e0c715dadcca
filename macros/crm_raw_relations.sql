{#- The CRM's raw tables exist once `python -m python_udfs.crm extract` has run (it falls back to the
    mock users when no API answers), and a child table exists once some user has a row for it. So a
    plain `dbt build` works on a fresh machine, the staging models read stand-ins until then: the
    `crm_mock_users` seed, flagged `is_mock`, for the users; no rows for `news` and `features`.
    Both `source()` and `ref()` are always called, so dbt orders the seed first either way. -#}

{% macro crm_raw_users() %}
    {%- set raw_users = source('crm_raw', 'users') -%}
    {%- set mock_users = ref('crm_mock_users') -%}
    {%- if not execute or load_relation(raw_users) is not none -%}
        {{ raw_users }}
    {%- else -%}
        (
            select
                id,
                name,
                agency as account__agency,
                account_number as account__number,
                balance as account__balance,
                account_limit as account__limit,
                card_number as card__number,
                card_limit as card__limit,
                true as is_mock,
                'mock' as extracted_from,
                cast(null as timestamp with time zone) as _extracted_at
            from {{ mock_users }}
        )
    {%- endif -%}
{% endmacro %}


{% macro crm_raw_user_items(table_name) %}
    {%- set raw_items = source('crm_raw', table_name) -%}
    {%- if not execute or load_relation(raw_items) is not none -%}
        {{ raw_items }}
    {%- else -%}
        (
            select
                cast(null as bigint) as id,
                cast(null as varchar) as icon,
                cast(null as varchar) as description,
                cast(null as bigint) as user_id,
                cast(null as boolean) as is_mock,
                cast(null as varchar) as extracted_from,
                cast(null as timestamp with time zone) as _extracted_at,
                cast(null as bigint) as _dlt_list_idx
            where false
        )
    {%- endif -%}
{% endmacro %}
