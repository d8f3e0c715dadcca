{% test no_cpf_like_digits(model, column_name, key_columns=none) %}
{#- No run of nine or more digits, even split by single `.`, `-` or spaces (`123.456.789-09`): a
    message must never carry a CPF. The failing value is shown with its digits as `#`. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    regexp_replace({{ column_name }}, '[0-9]', '#', 'g') as value_digits_hidden
from {{ model }}
where regexp_matches({{ column_name }}, '[0-9]{3}[.\- ]?[0-9]{3}[.\- ]?[0-9]{3}')
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
