-- depends_on: {{ ref('marketing_messages') }}
-- The ledger lives in the cache file (it survives --full-refresh); this table copies it for analysts,
-- after marketing_messages has written this run's row.
with

generation_log as (

    select * from {{ ref('stg_llm_cache__generation_log') }}

),

final as (

    select * from generation_log

)

select * from final
