{% macro export_location(file_name) -%}
    {#- Where an export file is written: MARKETING_EXPORT_DIR when set, else an `exports` folder beside
        the database file (profiles.yml's path), as python_udfs.database.export_dir() says. -#}
    {%- set database_folder = target.path.rsplit('/', 1)[0] if '/' in target.path else '.' -%}
    {{- env_var('MARKETING_EXPORT_DIR', database_folder ~ '/exports') ~ '/' ~ file_name -}}
{%- endmacro %}
