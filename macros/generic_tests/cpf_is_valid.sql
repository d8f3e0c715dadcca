{% test cpf_is_valid(model, column_name, key_columns=none) %}
{#- Rows whose CPF fails the check digits (or is a repeated-digit string). Nulls pass: test them with
    not_null. Failing rows show the key and the masked CPF, never the CPF itself. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    cpf_mask({{ column_name }}) as cpf_masked
from {{ model }}
where {{ column_name }} is not null and not cpf_is_valid({{ column_name }})
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
