with

source as (

    select * from {{ crm_raw_users() }}

),

renamed as (

    select
        cast(id as integer) as client_id,
        {{ collapse_whitespace('name') }} as client_name,
        is_mock,
        extracted_from,
        _extracted_at as extracted_at

    from source

),

final as (

    select * from renamed

)

select * from final
