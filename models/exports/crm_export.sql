{{ config(
    materialized='external',
    location=export_location('crm_export.parquet'),
    format='parquet',
) }}
-- The load into the CRM: one row per client with its messages in order (crm_export_json writes the
-- same rows as the JSON file the second original loaded, SDW2023_final.json).
with

client_marketing_messages as (

    select * from {{ ref('client_marketing_messages') }}

),

final as (

    select
        client_id,
        any_value(first_name) as first_name,
        any_value(cpf_masked) as cpf_masked,
        list(
            { 'campaign_id': campaign_id, 'round': round, 'message': message }
            order by message_number
        ) as messages

    from client_marketing_messages
    group by client_id

)

select * from final
