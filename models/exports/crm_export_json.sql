{{ config(
    materialized='external',
    location=export_location('crm_export.json'),
    format='json',
    options={'array': 'true'},
) }}
-- crm_export as one JSON array of client objects, like the second original's SDW2023_final.json.
with

crm_export as (

    select * from {{ ref('crm_export') }}

),

final as (

    select * from crm_export

)

select * from final
