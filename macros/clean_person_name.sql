{% macro clean_person_name(expression) -%}
    {#- SQL for a name fit to greet a person and to send to a CRM: markup removed (a `script` or `style`
        element with its content, then every tag, then any stray `<` or `>`), control characters and
        every kind of space (no-break, em, zero-width) made one space, other invisible format
        characters (soft hyphen, bidirectional overrides) removed, a CPF typed into it masked,
        trimmed; an all-blank result is null. A name that is plain already (words of letters, apostrophes,
        dots and hyphens, one space apart) is what all that would give back: it skips the eight
        regular expressions, and most names are plain. -#}
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
    case
        when regexp_full_match(cast({{ expression }} as varchar), '[\p{L}\p{M}''.-]+( [\p{L}\p{M}''.-]+)*')
            then cast({{ expression }} as varchar)
        else {{ collapse_whitespace(mask_cpf_like_digits(visible)) }}
    end
{%- endmacro %}
