-- Every client gets an offer in every active campaign that has a catalogue, in every round: a
-- segment the catalogue forgot would otherwise get messages with no product to offer.
with

expected as (

    select
        clients.client_id,
        catalogued.campaign_id,
        rounds.round
    from {{ ref('clients') }} as clients
    cross join (
        select distinct offers.campaign_id
        from {{ ref('stg_marketing__offers') }} as offers
        inner join {{ ref('stg_marketing__campaigns') }} as campaigns using (campaign_id)
        where offers.is_active and campaigns.is_active and campaigns.kind = 'generated'
    ) as catalogued
    cross join (
        select cast(range as integer) as round
        from range(1, cast('{{ generation_setting("rounds") }}' as integer) + 1)
    ) as rounds

)

select expected.*
from expected
anti join {{ ref('campaign_offers') }} as offers using (client_id, campaign_id, round)
