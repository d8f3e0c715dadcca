-- Every message is for a client in `clients` (the pre-hook drops a departed client's rows first),
-- and every ok one greets that client by first name (validation guarantees it; this proves it).
-- The name greeted is the one the prompt gave the model, without markup (macro greeted_name).
{{ config(meta={'print_failing_rows': true}) }}
with

marketing_messages as (

    select * from {{ ref('marketing_messages') }}

),

clients as (

    select
        client_id,
        first_name,
        {{ greeted_name('first_name') }} as greeted_name

    from {{ ref('clients') }}

),

final as (

    select
        marketing_messages.client_id,
        marketing_messages.campaign_id,
        marketing_messages.round,
        clients.first_name,
        case
            when clients.client_id is null then 'not_a_client'
            else 'does_not_greet_the_client'
        end as problem

    from marketing_messages
    left join clients on marketing_messages.client_id = clients.client_id
    where
        clients.client_id is null
        or (
            marketing_messages.status = 'ok'
            and {{ does_not_greet('marketing_messages.message', 'clients.greeted_name') }}
        )

)

select * from final
