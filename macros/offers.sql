{% macro offer_opening(phrase, benefit) -%}
    {#- What a message opens with after the greeting: the catalogue phrase, then its benefit when
        the catalogue gives one ("o Tesouro Selic, para a sua reserva de emergência"). -#}
    {{ phrase }} || coalesce(', ' || {{ benefit }}, '')
{%- endmacro %}


{% macro is_offer_withdrawn(offers, offer_id, offer, campaign_id, segment) -%}
    {#- The recorded offer (its id and the opening it gave the message) is no longer made, as written,
        to a client of `segment` in the campaign, by `offers` (stg_marketing__offers): switched off,
        taken out of the catalogue, moved to another campaign, no longer for the segment, or reworded. -#}
    not exists (
        select 1
        from {{ offers }} as current_offers
        where
            current_offers.offer_id = {{ offer_id }}
            and current_offers.campaign_id = {{ campaign_id }}
            and current_offers.is_active
            and list_contains(current_offers.segments, {{ segment }})
            and {{ offer_opening('current_offers.phrase', 'current_offers.benefit') }} = {{ offer }}
    )
{%- endmacro %}
