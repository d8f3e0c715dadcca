{% macro parse_decimal(column_name, precision=18, scale=2) -%}
    {#- Cast text to a decimal, accepting the Brazilian spelling `1.520,35` as well as `1520.35`.
        A blank value becomes null; anything else that is not a number fails the query, naming it. -#}
    cast(
        case
            when cast({{ column_name }} as varchar) like '%,%'
                then replace(replace(trim(cast({{ column_name }} as varchar)), '.', ''), ',', '.')
            else nullif(trim(cast({{ column_name }} as varchar)), '')
        end as decimal({{ precision }}, {{ scale }})
    )
{%- endmacro %}
