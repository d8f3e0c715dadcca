{% test contains_column_value(model, column_name, other_column, key_columns=none) %}
{#- The value contains the other column's value, ignoring case (a message names the client's first
    name). Rows where the other column is null pass; narrow the rows with the test's `where` config. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {{ other_column }},
    {{ column_name }}
from {{ model }}
where {{ other_column }} is not null
    and strpos(lower(coalesce({{ column_name }}, '')), lower({{ other_column }})) = 0
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
