{#- The CRM's raw tables exist once `python -m python_udfs.crm extract` has run, and a child table exists
    once some user has a row for it. So a plain `dbt build` works on a fresh machine, the staging models
    read stand-ins until then.

    Mock CRM users belong to the demo only. They are read (the `crm_mock_users` seed as the stand-in,
    or the rows the extract loaded flagged `is_mock`) when `client_source` is `seed` and the var
    `crm_mock` is unset, or when a run asks for them with `crm_mock: true`. A run on real client
    files never reads them: with no CRM extract its stand-ins are empty, and it segments clients
    from their accounts file alone.
    `source()` is always called and `ref()` whenever mock users may be read, so dbt orders the seed
    first; otherwise the seed is disabled (dbt_project.yml, the same condition as crm_mock_allowed). -#}

{% macro crm_mock_allowed() %}
    {#- As the extract decides (python_udfs/crm/api.py, mock_allowed): `crm_mock` when set, else
        whether this is a demo. -#}
    {%- set explicit = var('crm_mock', none) -%}
    {%- if explicit is not none -%}
        {{ return(explicit in (true, 'true')) }}
    {%- endif -%}
    {{ return(var('client_source') == 'seed') }}
{% endmacro %}


{% macro crm_raw_users() %}
    {%- set raw_users = source('crm_raw', 'users') -%}
    {%- set allow_mock = crm_mock_allowed() -%}
    {%- set mock_users = ref('crm_mock_users') if allow_mock else none -%}
    {%- if execute and allow_mock and load_relation(raw_users) is none -%}
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
    {%- else -%}
        {{ crm_raw_relation(raw_users, {
            'id': 'bigint', 'name': 'varchar',
            'account__agency': 'varchar', 'account__number': 'varchar',
            'account__balance': 'double', 'account__limit': 'double',
            'card__number': 'varchar', 'card__limit': 'double',
            'is_mock': 'boolean', 'extracted_from': 'varchar',
            '_extracted_at': 'timestamp with time zone',
        }) }}
    {%- endif -%}
{% endmacro %}


{% macro crm_raw_user_items(table_name) %}
    {{- crm_raw_relation(source('crm_raw', table_name), {
        'id': 'bigint', 'icon': 'varchar', 'description': 'varchar', 'user_id': 'bigint',
        'is_mock': 'boolean', 'extracted_from': 'varchar',
        '_extracted_at': 'timestamp with time zone', '_dlt_list_idx': 'bigint',
    }) -}}
{% endmacro %}


{% macro crm_raw_relation(relation, columns) %}
    {#- A raw CRM table as the extract loaded it (its mock rows only when they may be read), or, before
        it exists, an empty stand-in with `columns` (a name to its type). -#}
    {%- if not execute or load_relation(relation) is not none -%}
        {%- if crm_mock_allowed() -%}
            {{ relation }}
        {%- else -%}
            (select * from {{ relation }} where not is_mock)
        {%- endif -%}
    {%- else -%}
        (
            select
                {%- for name, type in columns.items() %}
                cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
                {%- endfor %}
            where false
        )
    {%- endif -%}
{% endmacro %}


{#- The lineage every CRM staging model carries: mock or not, where it came from, when. -#}
{% macro crm_lineage_columns() -%}
    is_mock,
    extracted_from,
    _extracted_at as extracted_at
{%- endmacro %}
