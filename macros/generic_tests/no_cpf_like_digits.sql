{% test no_cpf_like_digits(model, column_name, key_columns=none) %}
{#- No run of nine or more digits, even split by single `.`, `-` or spaces (`123.456.789-09`): a
    text a person reads must never carry a CPF. The failing value is shown with its digits as `#`. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {{ digits_hidden(column_name) }} as value_digits_hidden
from {{ model }}
where not {{ has_no_cpf_like_digits(column_name) }}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
