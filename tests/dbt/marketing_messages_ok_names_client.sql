-- Every ok message greets the client by first name (validation guarantees it; this proves it).
with

marketing_messages as (

    select * from {{ ref('marketing_messages') }}

),

clients as (

    select * from {{ ref('clients') }}

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
        and strpos(lower(marketing_messages.message), lower(clients.first_name)) = 0

)

select * from final
