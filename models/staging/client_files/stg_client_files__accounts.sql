-- depends_on: {{ ref('rejected_client_rows') }}
-- Built after rejected_client_rows, whose rejected_share_at_most test stops this model (and the
-- marts) when too many rows were set aside.
-- One row per accepted bank account: the rows of base_client_files__accounts with no problem.
with

account_rows as (

    select * from {{ ref('base_client_files__accounts') }}

),

final as (

    -- What the base model adds to judge a row is not needed once it is accepted.
    select * exclude (issues, rejection_reasons, is_accepted)

    from account_rows
    where is_accepted

)

select * from final
