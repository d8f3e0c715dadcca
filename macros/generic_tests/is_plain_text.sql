{% test is_plain_text(model, column_name, key_columns=none) %}
{#- No markup and no control characters: no `<` or `>` (a tag, or half of one), no character below a
    space but tab (so no line break either). For every column a person or a CRM reads. Nulls pass. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    left(regexp_replace(cast({{ column_name }} as varchar), '\p{Cc}', '?', 'g'), 80) as value
from {{ model }}
where regexp_matches(cast({{ column_name }} as varchar), '[<>\x{00}-\x{08}\x{0A}-\x{1F}\x{7F}-\x{9F}]')
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
