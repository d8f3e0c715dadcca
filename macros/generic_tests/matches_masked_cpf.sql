{% test matches_masked_cpf(model, column_name, key_columns=none) %}
{#- Every non-null value looks like `***.456.789-**`. A failing value may be an unmasked CPF, so its
    digits are shown as `#`. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    regexp_replace({{ column_name }}, '[0-9]', '#', 'g') as value_digits_hidden
from {{ model }}
where {{ column_name }} is not null
    and not regexp_full_match({{ column_name }}, '\*\*\*\.[0-9]{3}\.[0-9]{3}-\*\*')
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
