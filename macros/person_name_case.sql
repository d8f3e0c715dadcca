{% macro person_name_case(expression) -%}
    {#- A name typed all in capitals or all in small letters (`MARIA DAS GRAÇAS`, `josé da silva`), as
        bank systems export them, in the case a greeting wants: each word capitalised, the Portuguese
        particles (da, das, de, do, dos, e) in small letters. A name that already mixes cases is the
        client's own spelling and is kept. -#}
    case
        when {{ expression }} = upper({{ expression }}) or {{ expression }} = lower({{ expression }})
            then array_to_string(
                list_transform(
                    string_split(lower({{ expression }}), ' '),
                    word -> case
                        when word in ('da', 'das', 'de', 'do', 'dos', 'e') then word
                        else upper(word[1]) || word[2:]
                    end
                ),
                ' '
            )
        else {{ expression }}
    end
{%- endmacro %}
