with

gifts as (

    select * from {{ ref('gift_catalogue') }}

),

investments as (

    select * from {{ ref('investment_catalogue') }}

),

unioned as (

    select * from gifts
    union all by name
    select * from investments

),

renamed as (

    select
        trim(offer_id) as offer_id,
        trim(campaign_id) as campaign_id,
        trim(product) as product,
        trim(phrase) as phrase,
        nullif(trim(benefit), '') as benefit,
        list_transform(string_split(segments, '|'), segment -> trim(segment)) as segments,
        coalesce(is_active, false) as is_active

    from unioned

),

final as (

    select * from renamed

)

select * from final
