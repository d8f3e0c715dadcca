{% test is_single_line(model, column_name, key_columns=none) %}
{#- No line feed or carriage return in the value (shown with them spelled `\n`, `\r`). -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    replace(replace({{ column_name }}, chr(13), '\r'), chr(10), '\n') as value
from {{ model }}
where regexp_matches({{ column_name }}, '[\r\n]')
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
