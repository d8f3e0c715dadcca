with

clients as (

    select * from {{ ref('stg_client_files__clients') }}

),

accounts as (

    select * from {{ ref('stg_client_files__accounts') }}

),

crm_users as (

    select * from {{ ref('stg_crm__users') }}

),

crm_accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

crm_cards as (

    select * from {{ ref('stg_crm__cards') }}

),

clients_and_crm_users as (

    select * exclude (cpf_shared_with_client_ids, source_file, line_number)

    from clients

    {%- if var('client_source') == 'seed' %}

        union all by name

        -- In the demo the CRM's user ids are client ids: a CRM user missing from the seed is a client
        -- too. A run on real client files messages exactly the clients of its files.
        select
            client_id,
            client_name,
            false as is_name_truncated,
            false as is_name_repaired,
            null as cpf_masked,
            false as has_cpf,
            false as is_cpf_valid,
            false as is_cpf_shared,
            'crm' as source_system

        from crm_users
        where client_id not in (select clients.client_id from clients)
    {%- endif %}

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

crm_bank_data as (

    -- One account and one card per CRM user at most (both tested unique per client).
    select
        crm_users.client_id,
        count(crm_accounts.account_id) as account_count,
        sum(crm_accounts.balance) as balance,
        sum(crm_accounts.credit_limit) as credit_limit,
        sum(crm_cards.card_limit) as card_limit,
        bool_or(crm_users.is_mock) as is_mock

    from crm_users
    left join crm_accounts
        on crm_users.client_id = crm_accounts.client_id
    left join crm_cards
        on crm_users.client_id = crm_cards.client_id
    group by crm_users.client_id

),

bank_data as (

    -- The CRM, when it knows the client, is the source of truth for the bank data.
    select
        *,
        'crm' as bank_data_source

    from crm_bank_data

    union all by name

    select
        *,
        false as is_mock,
        'accounts' as bank_data_source

    from accounts_per_client
    where client_id not in (select crm_bank_data.client_id from crm_bank_data)

),

joined as (

    select
        clients.client_id,
        clients.client_name,
        clients.is_name_truncated,
        clients.is_name_repaired,
        clients.cpf_masked,
        clients.has_cpf,
        clients.is_cpf_valid,
        clients.is_cpf_shared,
        clients.source_system,
        bank_data.bank_data_source,
        coalesce(bank_data.is_mock, false) as has_mock_crm_data,
        coalesce(bank_data.account_count, 0) as account_count,
        bank_data.balance,
        bank_data.credit_limit,
        bank_data.card_limit

    from clients_and_crm_users as clients
    left join bank_data
        on clients.client_id = bank_data.client_id

),

final as (

    select * from joined

)

select * from final
