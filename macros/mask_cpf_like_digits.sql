{% macro mask_cpf_like_digits(expression) -%}
    {#- SQL masking every CPF-shaped run of digits in free text (11 digits, optionally punctuated
        `123.456.789-09`) as `***.456.789-**`: a CPF typed into a name never reaches a table. -#}
    regexp_replace({{ expression }}, '[0-9]{3}[. ]?([0-9]{3})[. ]?([0-9]{3})[-. ]?[0-9]{2}', '***.\1.\2-**', 'g')
{%- endmacro %}
