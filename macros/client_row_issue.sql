{% macro client_row_issue(condition, column_name, reason, raw_value='null', detail="''") -%}
    {#- SQL for one problem of a client-file row: a struct of column_name (null for the row as a
        whole), reason, raw_value and detail (both SQL expressions); with a `condition`, null unless it
        holds. -#}
    {%- set issue -%}
        {
            'column_name': {{ "'" ~ column_name ~ "'" if column_name else 'null' }},
            'reason': '{{ reason }}',
            'raw_value': {{ raw_value }},
            'detail': {{ detail }}
        }
    {%- endset -%}
    {%- if condition is none -%}
        {{ issue }}
    {%- else -%}
        case when {{ condition }} then {{ issue }} end
    {%- endif -%}
{%- endmacro %}

{#- The two issues of a line whose field count differs from its header's (a row of any export). -#}
{% macro client_row_field_count_issues() -%}
    {{ client_row_issue(
        "field_count_problem = 'missing_fields'", none, 'missing_fields',
        detail="'fewer fields than the header: a value or a delimiter is missing, or a quote is not closed'"
    ) }},
    {{ client_row_issue(
        "field_count_problem = 'extra_fields'", none, 'extra_fields',
        detail="'more fields than the header: a value holds the delimiter without quotes'"
    ) }}
{%- endmacro %}
