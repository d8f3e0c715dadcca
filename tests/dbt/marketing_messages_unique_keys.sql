-- One row per client, campaign and round: the incremental delete+insert must never duplicate a key.
{{ config(meta={'print_failing_rows': true}) }}
with

marketing_messages as (

    select * from {{ ref('marketing_messages') }}

),

final as (

    select
        client_id,
        campaign_id,
        round,
        count(*) as row_count

    from marketing_messages
    group by client_id, campaign_id, round
    having count(*) > 1

)

select * from final
