{% test is_empty(model, key_columns=none) %}
{#- Every row of the model is a failing row: for tables that list problems, such as
    rejected_client_rows, so a build with `severity: warn` names the first ones. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }}{{ ',' if not loop.last }}
    {%- endfor %}
from {{ model }}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
