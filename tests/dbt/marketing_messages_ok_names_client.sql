-- Every ok message greets the client by first name (validation guarantees it; this proves it).
-- The name greeted is the one the prompt gave the model: without markup (`<b>Lia</b>` is greeted
-- as Lia), removed as `strip_markup` in python_udfs/generation/validation.py removes it.
{{ config(meta={'print_failing_rows': true}) }}
with

marketing_messages as (

    select * from {{ ref('marketing_messages') }}

),

clients as (

    select
        client_id,
        first_name,
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    first_name, '(?is)<(script|style)\b[^>]*>.*?(</(script|style)\s*>|$)', '', 'g'
                ),
                '<[^<>]*>', '', 'g'
            ),
            '[<>]', '', 'g'
        ) as greeted_name

    from {{ ref('clients') }}

),

final as (

    select
        marketing_messages.client_id,
        marketing_messages.campaign_id,
        marketing_messages.round,
        clients.first_name

    from marketing_messages
    inner join clients on marketing_messages.client_id = clients.client_id
    where
        marketing_messages.status = 'ok'
        -- The name as written first: lower-casing two million messages is the test's main cost.
        and not contains(marketing_messages.message, clients.greeted_name)
        and strpos(lower(marketing_messages.message), lower(clients.greeted_name)) = 0

)

select * from final
