with

clients as (

    select * from {{ ref('int_clients_unioned') }}

),

compound_given_names as (

    select * from {{ ref('compound_given_names') }}

),

name_words as (

    select
        *,
        -- Punctuation around the word is not part of the name (`Robert');`, `(Ana)`); inside it is (D’Ávila).
        regexp_replace(split_part(client_name, ' ', 1), '^[^\p{L}]+|[^\p{L}]+$', '', 'g') as first_word,
        split_part(client_name, ' ', 1) || ' ' || split_part(client_name, ' ', 2) as first_two_words

    from clients

),

with_first_names as (

    select
        name_words.*,
        case
            -- A masked CPF typed as the name greets nobody: the first word needs a letter.
            when not regexp_matches(name_words.first_word, '\p{L}') then null
            -- `Maria Eduarda Souza` is Maria Eduarda, not Maria.
            when compound_given_names.given_name is not null then name_words.first_two_words
            else name_words.first_word
        end as first_name

    from name_words
    left join compound_given_names
        on
            lower(strip_accents(name_words.first_two_words))
            = lower(strip_accents(compound_given_names.given_name))

),

final as (

    select
        client_id,
        first_name,
        client_name as full_name,
        cpf_masked,
        has_cpf,
        is_cpf_valid,
        is_cpf_shared,
        is_name_truncated,
        is_name_repaired,
        -- Thresholds in BRL, summed over the client's accounts; see _marketing__models.yml.
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

    from with_first_names

)

select * from final
