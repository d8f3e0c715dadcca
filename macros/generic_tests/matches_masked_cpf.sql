{% test matches_masked_cpf(model, column_name, key_columns=none) %}
{#- Every non-null value looks like `***.456.789-**`. A failing value may be an unmasked CPF, so its
    digits are shown as `#`. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {{ digits_hidden(column_name) }} as value_digits_hidden
from {{ model }}
where not {{ is_masked_cpf(column_name) }}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
