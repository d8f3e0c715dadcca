with

source as (

    select * from {{ crm_raw_users() }}

),

renamed as (

    select
        cast(id as integer) as client_id,
        right(regexp_replace(card__number, '[^0-9]', '', 'g'), 4) as card_last_digits,
        cast(card__limit as decimal(18, 2)) as card_limit,
        {{ crm_lineage_columns() }}

    from source
    where card__number is not null

),

final as (

    select * from renamed

)

select * from final
