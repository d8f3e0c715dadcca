-- Exactly one offer for every client in every active campaign that has a catalogue, in every round:
-- a segment the catalogue forgot would otherwise get messages with no product to offer, and a
-- message is written for one offer only. A failing row says how many offers its slot got (0 or 2+).
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

    {{ generation_rounds() }}

),

expected as (

    select
        clients.client_id,
        catalogued.campaign_id,
        rounds.round
    from {{ ref('clients') }} as clients
    cross join catalogued
    cross join rounds

),

assigned as (

    select
        client_id,
        campaign_id,
        round,
        count(*) as offers
    from {{ ref('campaign_offers') }}
    group by client_id, campaign_id, round

),

final as (

    select
        client_id,
        campaign_id,
        round,
        coalesce(assigned.offers, 0) as offers
    from expected
    full outer join assigned using (client_id, campaign_id, round)
    where assigned.offers is distinct from 1

)

select * from final
