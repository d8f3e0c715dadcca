{% test has_no_mock_rows(model, column_name, key_columns=none) %}
{#- Warns (by default) when rows flagged as mock data, e.g. CRM users from the mock fallback, reached
    the model: fine for a demo, never for a campaign sent to real clients. -#}
{{ config(severity='warn') }}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {{ column_name }}
from {{ model }}
where {{ column_name }}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
