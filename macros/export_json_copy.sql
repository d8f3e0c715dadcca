{% macro export_json_copy(file_name) -%}
    {#- A post-hook for a `parquet_export` model: its rows, read back from the Parquet file just written,
        copied to `file_name` as one JSON array, in the model's own node. -#}
    copy (select * from {{ this }}) to '{{ export_location(file_name) }}' (format json, array true)
{%- endmacro %}
