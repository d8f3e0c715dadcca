-- depends_on: {{ ref('rejected_client_rows') }}
-- Built after rejected_client_rows, whose rejected_share_at_most test stops this model (and the
-- marts) when too many rows were set aside.
-- One row per accepted client: the rows of base_client_files__clients with no problem. No raw CPF.
with

client_rows as (

    select * from {{ ref('base_client_files__clients') }}

),

final as (

    select
        client_id,
        client_name,
        is_name_truncated,
        is_name_repaired,
        cpf_masked,
        has_cpf,
        is_cpf_valid,
        is_cpf_shared,
        cpf_shared_with_client_ids,
        source_system,
        source_file,
        line_number

    from client_rows
    where is_accepted

)

select * from final
