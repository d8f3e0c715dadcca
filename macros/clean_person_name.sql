{% macro clean_person_name(expression) -%}
    {#- SQL for a name fit to greet a person and to send to a CRM: markup removed (a `script` or `style`
        element with its content, then every tag, then any stray `<` or `>`), control characters and
        every kind of space (no-break, em, zero-width) made one space, other invisible format
        characters (soft hyphen, bidirectional overrides) removed, a CPF typed into it masked,
        trimmed; an all-blank result is null. -#}
    {%- set without_markup -%}
        regexp_replace(
            regexp_replace(
                regexp_replace(cast({{ expression }} as varchar), '(?is)<(script|style)\b.*?</(script|style)\s*>', ' ', 'g'),
                '<[^>]*>', ' ', 'g'
            ),
            '[<>]', ' ', 'g'
        )
    {%- endset -%}
    {%- set visible -%}
        regexp_replace(
            regexp_replace({{ without_markup }}, '[\p{Cc}\p{Z}\x{200B}]', ' ', 'g'),
            '\p{Cf}', '', 'g'
        )
    {%- endset -%}
    {{ collapse_whitespace(mask_cpf_like_digits(visible)) }}
{%- endmacro %}
