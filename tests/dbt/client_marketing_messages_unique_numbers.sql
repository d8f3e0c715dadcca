-- Each client's messages are numbered 1, 2, 3, ... with no number used twice.
{{ config(meta={'print_failing_rows': true}) }}
with

client_marketing_messages as (

    select * from {{ ref('client_marketing_messages') }}

),

final as (

    select
        client_id,
        message_number,
        count(*) as row_count

    from client_marketing_messages
    group by client_id, message_number
    having count(*) > 1

)

select * from final
