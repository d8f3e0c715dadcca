{% test max_length(model, column_name, length, key_columns=none) %}
{#- The value has at most `length` characters; `length` is a number or an expression over the same row,
    such as a column name (`max_characters`). -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    length({{ column_name }}) as actual_length,
    {{ length }} as max_length
from {{ model }}
where length({{ column_name }}) > {{ length }}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
