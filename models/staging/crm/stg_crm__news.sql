with

source as (

    select * from {{ crm_raw_user_items('users__news') }}

),

renamed as (

    select
        cast(user_id as integer) as client_id,
        cast(_dlt_list_idx as integer) + 1 as news_position,
        cast(id as integer) as crm_news_id,
        icon as icon_url,
        {{ collapse_whitespace('description') }} as description,
        {{ crm_lineage_columns() }}

    from source

),

final as (

    select * from renamed

)

select * from final
