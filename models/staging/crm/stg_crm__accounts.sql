with

source as (

    select * from {{ crm_raw_users() }}

),

renamed as (

    select
        trim(account__agency) || '-' || trim(account__number) as account_id,
        cast(id as integer) as client_id,
        trim(account__agency) as agency,
        trim(account__number) as account_number,
        cast(account__balance as decimal(18, 2)) as balance,
        cast(account__limit as decimal(18, 2)) as credit_limit,
        {{ crm_lineage_columns() }}

    from source
    where account__number is not null

),

final as (

    select * from renamed

)

select * from final
