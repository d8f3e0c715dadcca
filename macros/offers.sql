{% macro offer_text(phrase, benefit) -%}
    {#- What a message's opening carries for a catalogue row: the phrase, then what the product is
        for, if given. campaign_offers plans it; marketing_messages records it with each row. -#}
    {{ phrase }} || coalesce(', ' || {{ benefit }}, '')
{%- endmacro %}
