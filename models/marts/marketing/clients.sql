with

clients as (

    select * from {{ ref('int_clients_unioned') }}

),

final as (

    select
        client_id,
        -- The first word, when it has a letter: a masked CPF typed as the name greets nobody.
        case
            when regexp_matches(split_part(client_name, ' ', 1), '\p{L}')
                then split_part(client_name, ' ', 1)
        end as first_name,
        client_name as full_name,
        cpf_mask(cpf) as cpf_masked,
        cpf is not null as has_cpf,
        cpf_is_valid(cpf) as is_cpf_valid,
        -- Thresholds in BRL, summed over the client's accounts; see _marts__models.yml.
        case
            when account_count = 0 then 'sem_conta'
            when balance <= 0 then 'sem_saldo'
            when balance >= 100000 then 'alta_renda'
            when balance >= 10000 or credit_limit >= 10000 then 'intermediario'
            else 'basico'
        end as segment,
        account_count,
        source_system,
        bank_data_source,
        has_mock_crm_data

    from clients

)

select * from final
