{% test expression_is_true(model, expression, column_name=none, key_columns=none) %}
{#- Rows where `expression` is false. On a column the expression continues the column
    (`expression: "> 0"`) and the value is shown; on a model it stands alone. As in dbt_utils, a null
    result passes. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set condition = column_name ~ ' ' ~ expression if column_name else expression -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {%- if column_name %}
    {{ column_name }},
    {%- endif %}
    {{ "'" ~ (condition | replace("'", "''")) ~ "'" }} as failed_expression
from {{ model }}
where not ({{ condition }})
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
