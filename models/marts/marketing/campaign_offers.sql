-- Which catalogue offer each (client, campaign, round) message is written for, decided here so
-- analysts see and test what is offered before a token is generated. For a client, the offers its
-- segment suits are taken in offer_id order starting at (client_id + round - 1): consecutive clients
-- get different offers, and a client's rounds walk the list, so no offer repeats until every one
-- has been made.
with

clients as (

    select * from {{ ref('clients') }}

),

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}
    where kind = 'generated' and is_active

),

offers as (

    select * from {{ ref('stg_marketing__offers') }}
    where is_active

),

rounds as (

    {{ generation_rounds() }}

),

-- The catalogue per (campaign, segment), numbered: a few hundred rows however many clients.
segment_offers as (

    select
        offers.campaign_id,
        unnest(offers.segments) as segment,
        offers.offer_id,
        offers.product,
        -- What the message's opening carries: the phrase, then what the product is for, if given.
        {{ offer_opening('offers.phrase', 'offers.benefit') }} as offer

    from offers
    inner join campaigns using (campaign_id)

),

numbered as (

    select
        *,
        cast(row_number() over (partition by campaign_id, segment order by offer_id) - 1 as integer)
            as offer_index,
        count(*) over (partition by campaign_id, segment) as offer_count

    from segment_offers

),

catalogue_sizes as (

    select distinct
        campaign_id,
        segment,
        offer_count
    from numbered

),

slots as (

    select
        clients.client_id,
        catalogue_sizes.campaign_id,
        rounds.round,
        clients.segment,
        cast((clients.client_id + rounds.round - 1) % catalogue_sizes.offer_count as integer) as offer_index

    from clients
    inner join catalogue_sizes on clients.segment = catalogue_sizes.segment
    cross join rounds

),

final as (

    select
        slots.client_id,
        slots.campaign_id,
        slots.round,
        slots.segment,
        numbered.offer_id,
        numbered.product,
        numbered.offer

    from slots
    inner join numbered
        on
            slots.campaign_id = numbered.campaign_id
            and slots.segment = numbered.segment
            and slots.offer_index = numbered.offer_index

)

select * from final
