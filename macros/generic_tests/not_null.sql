{% test not_null(model, column_name) %}
{#- dbt's not_null, asking for its failing rows to be printed (a config set in the dispatched macro
    below would not reach the test node). -#}
{{ config(meta={'print_failing_rows': true}) }}
{{ adapter.dispatch('test_not_null', 'dbt')(model, column_name) }}
{% endtest %}


{% macro default__test_not_null(model, column_name) %}
{#- Overrides dbt's built-in not_null (the root project comes first when dbt dispatches its own
    macros). dbt's version stores `select *` as the failing rows with --store-failures, which would
    copy an unmasked CPF from a staging view into a table: this one keeps the row's key and the
    column, and prints the first failing rows like the project's other tests. -#}
{%- set keys = [] -%}
{%- for key in failing_row_keys(model) -%}
    {%- if key | replace('"', '') | lower != column_name | replace('"', '') | lower -%}
        {%- do keys.append(key) -%}
    {%- endif -%}
{%- endfor -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {{ column_name }}
from {{ model }}
where {{ column_name }} is null
{%- endset -%}
{{ failures }}
{% endmacro %}
