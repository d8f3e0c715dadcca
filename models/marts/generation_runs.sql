-- depends_on: {{ ref('marketing_messages') }}
-- The ledger lives in the cache file (it survives --full-refresh); this table copies it for analysts.
with

generation_log as (

    select * from {{ source('llm_cache', 'generation_log') }}

),

final as (

    select
        run_id,
        started_at,
        finished_at,
        status,
        provider,
        model,
        rows_requested,
        served_from_cache,
        model_calls,
        http_retries,
        ok,
        rejected,
        error,
        prompt_tokens,
        completion_tokens,
        seconds

    from generation_log

)

select * from final
