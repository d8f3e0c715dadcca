{% macro collapse_whitespace(column_name) -%}
    {#- Trim, and turn every run of whitespace (spaces, tabs, newlines, no-break spaces) into one space;
        an all-blank value becomes null. -#}
    nullif(trim(regexp_replace(cast({{ column_name }} as varchar), '[\s\x{00A0}]+', ' ', 'g')), '')
{%- endmacro %}
