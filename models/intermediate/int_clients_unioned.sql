with

clients as (

    select * from {{ ref('stg_clients') }}

),

accounts as (

    select * from {{ ref('stg_accounts') }}

),

accounts_per_client as (

    select
        client_id,
        count(*) as account_count,
        sum(balance) as balance,
        sum(credit_limit) as credit_limit,
        sum(card_limit) as card_limit

    from accounts
    group by client_id

),

joined as (

    select
        clients.client_id,
        clients.client_name,
        clients.cpf,
        clients.source_system,
        coalesce(accounts_per_client.account_count, 0) as account_count,
        accounts_per_client.balance,
        accounts_per_client.credit_limit,
        accounts_per_client.card_limit

    from clients
    left join accounts_per_client
        on clients.client_id = accounts_per_client.client_id

),

final as (

    select * from joined

)

select * from final
