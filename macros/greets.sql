{% macro greeted_name(first_name) -%}
    {#- The name a message greets: the first name without markup (`<b>Lia</b>` is greeted as Lia),
        removed as `strip_markup` in python_udfs/generation/validation.py removes it. -#}
    regexp_replace(
        regexp_replace(
            regexp_replace({{ first_name }}, '(?is)<(script|style)\b[^>]*>.*?(</(script|style)\s*>|$)', '', 'g'),
            '<[^<>]*>', '', 'g'
        ),
        '[<>]', '', 'g'
    )
{%- endmacro %}


{% macro does_not_greet(message, name) -%}
    {#- The message does not name `name` (a greeted_name), in any case. The name as written is tried
        first: lower-casing two million messages is the expensive part. -#}
    (not contains({{ message }}, {{ name }}) and strpos(lower({{ message }}), lower({{ name }})) = 0)
{%- endmacro %}
