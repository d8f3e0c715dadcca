{% macro export_json_copy(file_name) -%}
    {#- A post-hook for an external model: its rows, read back from the file just written, copied to
        `file_name` as one JSON array. In the model's own node, with no table in between. -#}
    copy (select * from {{ this }}) to '{{ export_location(file_name) }}' (format json, array true)
{%- endmacro %}
