-- Ephemeral: a view here would name the attached `llm_cache` catalog, which a DuckDB CLI session on
-- the main file does not have; the ops mart copies the rows into a table instead.
{{ config(materialized='ephemeral') }}

with

source as (

    select * from {{ source('llm_cache', 'generation_log') }}

),

renamed as (

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
        ok as ok_count,
        rejected as rejected_count,
        error as error_count,
        prompt_tokens,
        completion_tokens,
        seconds

    from source

),

final as (

    select * from renamed

)

select * from final
