-- Every data row of the accounts exports (or of the accounts seed in demo mode), checked like the
-- clients: a row that cannot be used carries its problems in `issues` and is set aside
-- (rejected_client_rows). No accounts file at all is fine: every client is then `sem_conta`.
{{ config(materialized='table') }}

with

source as (

    select * from {{ client_file_rows('accounts', 'accounts') }}

),

texts as (

    select
        source_file,
        line_number,
        field_count_problem,
        nullif(trim(client_id), '') as client_id_text,
        nullif(trim(agency), '') as agency,
        nullif(trim(account_number), '') as account_number,
        nullif(trim(balance), '') as balance_text,
        nullif(trim(credit_limit), '') as credit_limit_text,
        nullif(trim(card_limit), '') as card_limit_text

    from source
    where
        coalesce(client_id, agency, account_number, balance, credit_limit, card_limit) is not null
        or field_count_problem = 'extra_fields'

),

parsed as (

    select
        *,
        agency || '-' || account_number as account_id,
        case
            when regexp_full_match(client_id_text, '[0-9]{1,9}([.,]0+)?')
                then cast(regexp_extract(client_id_text, '^[0-9]+') as integer)
        end as client_id,
        {{ parse_decimal('balance_text') }} as balance,
        {{ parse_decimal('credit_limit_text') }} as credit_limit,
        {{ parse_decimal('card_limit_text') }} as card_limit

    from texts

),

checked as (

    select
        *,
        -- The list is built only for the few rows with a problem (the same tests, cheaper).
        case
            when
                field_count_problem is not null
                or client_id is null
                or agency is null
                or account_number is null
                or balance is null
                or (credit_limit_text is not null and credit_limit is null)
                or (card_limit_text is not null and card_limit is null)
                or credit_limit < 0
                or card_limit < 0
                then list_filter([
                    {{ client_row_field_count_issues() }},
                    {{ client_row_issue(
                        "field_count_problem is null and client_id_text is null", 'client_id', 'id_missing',
                        detail="'no owning client id'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and client_id_text is not null and client_id is null",
                        'client_id', 'id_not_integer', mask_cpf_like_digits('left(client_id_text, 40)'),
                        "'the owning client id must be a whole number of at most 9 digits'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and agency is null", 'agency', 'account_missing',
                        detail="'an account needs its agency and its number'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and agency is not null and account_number is null",
                        'account_number', 'account_missing', detail="'an account needs its agency and its number'"
                    ) }},
                    {%- for column in ['balance', 'credit_limit', 'card_limit'] %}
                    {{ client_row_issue(
                        "field_count_problem is null and " ~ column ~ "_text is not null and " ~ column ~ " is null",
                        column, 'not_a_number', mask_cpf_like_digits('left(' ~ column ~ '_text, 40)'),
                        "'not an amount (1520.35 and 1.520,35 are)'"
                    ) }},
                    {%- endfor %}
                    {{ client_row_issue(
                        "field_count_problem is null and balance_text is null", 'balance', 'balance_missing',
                        detail="'an account needs its balance'"
                    ) }},
                    {%- for column in ['credit_limit', 'card_limit'] %}
                    {{ client_row_issue(
                        "field_count_problem is null and " ~ column ~ " < 0", column, 'negative_limit',
                        detail="'a limit cannot be negative'"
                    ) }}{{ ',' if not loop.last }}
                    {%- endfor %}
                ], issue -> issue is not null)
            else []
        end as value_issues

    from parsed

),

judged_duplicates as (

    {{ client_row_duplicates(
        'checked', 'account_id', ['client_id', 'balance', 'credit_limit', 'card_limit']
    ) }}

),

judged as (

    select
        *,
        {{ client_row_duplicate_issues(
            client_row_issue(
                none, 'account_number', 'duplicate_account', 'account_id',
                "'the same agency and account number with a different owner or amounts on another line: "
                ~ "which one is right?'"
            ),
            client_row_issue(
                none, 'account_number', 'duplicate_row', 'account_id',
                "'the same account as line ' || first_line || ', kept once'"
            )
        ) }} as issues

    from judged_duplicates

),

final as (

    select
        source_file,
        line_number,
        account_id,
        client_id,
        agency,
        account_number,
        balance,
        credit_limit,
        card_limit,
        {{ client_row_acceptance() }}

    from judged

)

select * from final
