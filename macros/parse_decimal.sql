{% macro parse_decimal(column_name, precision=18, scale=2) -%}
    {#- Text to a decimal, accepting the Brazilian spelling `1.520,35` (and a leading `R$`) as well as
        `1520.35`. Blank, or anything that is not a number, is null: callers flag those rows. -#}
    try_cast(
        case
            when {{ column_name }} like '%,%'
                then replace(replace(regexp_replace(trim({{ column_name }}), '^R\$\s*', ''), '.', ''), ',', '.')
            else nullif(regexp_replace(trim({{ column_name }}), '^R\$\s*', ''), '')
        end as decimal({{ precision }}, {{ scale }})
    )
{%- endmacro %}
