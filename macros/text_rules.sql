{% macro is_plain_text(column_name) -%}
    {#- No markup and no control characters: no `<` or `>` (a tag, or half of one), no character below
        a space but tab (so no line break either). A null passes. -#}
    coalesce(not regexp_matches(cast({{ column_name }} as varchar), '[<>\x{00}-\x{08}\x{0A}-\x{1F}\x{7F}-\x{9F}]'), true)
{%- endmacro %}


{% macro has_no_cpf_like_digits(column_name) -%}
    {#- No run of nine or more digits, even split by single `.`, `-` or spaces (`123.456.789-09`). A
        null passes. -#}
    coalesce(not regexp_matches({{ column_name }}, '[0-9]{3}[.\- ]?[0-9]{3}[.\- ]?[0-9]{3}'), true)
{%- endmacro %}


{% macro is_masked_cpf(column_name) -%}
    {#- The value looks like `***.456.789-**`. A null passes. -#}
    coalesce(regexp_full_match({{ column_name }}, '\*\*\*\.[0-9]{3}\.[0-9]{3}-\*\*'), true)
{%- endmacro %}


{% macro digits_hidden(column_name) -%}
    {#- The value with every digit as `#`: how a test shows a value that may hold a CPF. -#}
    regexp_replace({{ column_name }}, '[0-9]', '#', 'g')
{%- endmacro %}
