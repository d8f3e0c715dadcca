with

clients as (

    select * from {{ ref('clients') }}

),

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

welcome as (

    select * from campaigns
    where campaign_id = 'welcome' and kind = 'template' and is_active

),

final as (

    select
        clients.client_id,
        welcome.campaign_id,
        clients.first_name,
        replace(welcome.template, '{nome}', coalesce(clients.first_name, 'cliente')) as message

    from clients
    cross join welcome

)

select * from final
