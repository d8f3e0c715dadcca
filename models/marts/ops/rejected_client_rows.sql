-- The rows of the client and accounts exports set aside, one row per problem found: the file, the
-- line, the column, what was there (CPF digits hidden, CPF-like digits masked) and why. The good
-- rows of the same files go on to messages and exports.
with

client_rows as (

    select
        'clients' as file_kind,
        source_file,
        line_number,
        issues

    from {{ ref('base_client_files__clients') }}
    where not is_accepted

),

account_rows as (

    select
        'accounts' as file_kind,
        source_file,
        line_number,
        issues

    from {{ ref('base_client_files__accounts') }}
    where not is_accepted

),

rejected_rows as (

    select * from client_rows
    union all
    select * from account_rows

),

problems as (

    select
        file_kind,
        source_file,
        line_number,
        unnest(issues) as issue

    from rejected_rows

),

final as (

    select
        cast(file_kind as varchar) as file_kind,
        cast(source_file as varchar) as source_file,
        cast(line_number as bigint) as line_number,
        cast(struct_extract(issue, 'column_name') as varchar) as column_name,
        cast(struct_extract(issue, 'raw_value') as varchar) as raw_value,
        cast(struct_extract(issue, 'reason') as varchar) as reason,
        cast(struct_extract(issue, 'detail') as varchar) as detail

    from problems

)

select * from final
