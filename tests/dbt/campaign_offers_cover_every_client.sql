-- Every client gets an offer in every active campaign that has a catalogue, in every round: a
-- segment the catalogue forgot would otherwise get messages with no product to offer.
{{ config(meta={'print_failing_rows': true}) }}
with

catalogued as (

    select distinct offers.campaign_id
    from {{ ref('stg_marketing__offers') }} as offers
    inner join {{ ref('stg_marketing__campaigns') }} as campaigns
        on offers.campaign_id = campaigns.campaign_id
    where offers.is_active and campaigns.is_active and campaigns.kind = 'generated'

),

rounds as (

    select cast(range as integer) as round
    from range(1, cast('{{ generation_setting("rounds", 1) }}' as integer) + 1)

),

expected as (

    select
        clients.client_id,
        catalogued.campaign_id,
        rounds.round
    from {{ ref('clients') }} as clients
    cross join catalogued
    cross join rounds

)

select expected.*
from expected
anti join {{ ref('campaign_offers') }} as assigned
    on
        expected.client_id = assigned.client_id
        and expected.campaign_id = assigned.campaign_id
        and expected.round = assigned.round
