-- A table, not a view: a dozen data tests and the marts read it, and a view over a CSV export
-- would parse the file again for each (about 7 s a read at a million clients).
{{ config(materialized='table') }}

{%- set source_relation = client_input('accounts', 'accounts') -%}

with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        trim(cast(agency as varchar)) || '-' || trim(cast(account_number as varchar)) as account_id,
        cast(trim(cast(client_id as varchar)) as integer) as client_id,
        trim(cast(agency as varchar)) as agency,
        trim(cast(account_number as varchar)) as account_number,
        {{ parse_decimal('balance') }} as balance,
        {{ parse_decimal('credit_limit') }} as credit_limit,
        {{ parse_decimal('card_limit') }} as card_limit

    from source

),

final as (

    select * from renamed

)

select * from final
