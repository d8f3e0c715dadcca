-- Every ok message greets the client by first name (validation guarantees it; this proves it).
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
        clients.first_name

    from marketing_messages
    inner join clients on marketing_messages.client_id = clients.client_id
    where
        marketing_messages.status = 'ok'
        and {{ does_not_greet('marketing_messages.message', 'clients.greeted_name') }}

)

select * from final
