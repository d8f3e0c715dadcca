{% macro client_input(export_table, seed_name) %}
    {#- The relation a staging model reads, by the `client_source` var: the seed or the CSV export. -#}
    {%- set client_source = var('client_source') -%}
    {%- if client_source not in ('seed', 'csv') -%}
        {{ exceptions.raise_compiler_error("var client_source must be 'seed' or 'csv', not '" ~ client_source ~ "'") }}
    {%- endif -%}
    {%- if client_source == 'csv' -%}
        {{ return(source('client_exports', export_table)) }}
    {%- else -%}
        {{ return(ref(seed_name)) }}
    {%- endif -%}
{% endmacro %}
