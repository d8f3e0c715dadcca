with

source as (

    select * from {{ crm_raw_users() }}

),

renamed as (

    select
        cast(id as integer) as client_id,
        {{ collapse_whitespace('name') }} as client_name,
        {{ crm_lineage_columns() }}

    from source

),

final as (

    select * from renamed

)

select * from final
