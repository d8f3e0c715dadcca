{#- A view, although each data test on it parses a CSV export again: as a table it would copy
    every unmasked CPF into the database file, which holds them only masked (seeds aside). -#}
{%- set source_relation = client_input('clients', 'raw_clients') -%}

with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        cast(trim(cast(id as varchar)) as integer) as client_id,
        {{ mask_cpf_like_digits(collapse_whitespace('nome')) }} as client_name,
        nullif(trim(cast(cpf as varchar)), '') as cpf_as_given,
        '{{ var('client_source') }}' as source_system

    from source

),

cleaned as (

    select
        client_id,
        client_name,
        cpf_normalise(cpf_as_given) as cpf,
        cpf_as_given is not null and cpf_normalise(cpf_as_given) is null as is_cpf_malformed,
        source_system,
        cpf_as_given,
        -- Only to rank duplicates (computed here, once per row, not inside the window's sort).
        cpf_is_valid(cpf_as_given) as is_cpf_valid

    from renamed

),

versions as (

    -- Versions of each client in the source: a row exported twice is one version, a second name or
    -- CPF for the same id is another (and fails the build: which one is right?).
    select
        client_id,
        count(distinct row(client_name, coalesce(cpf, cpf_as_given))) as source_row_count

    from cleaned
    group by client_id

),

deduplicated as (

    select * exclude (cpf_as_given, is_cpf_valid) from cleaned
    -- One row per client_id. Among duplicates keep, in order: a valid CPF, then any CPF, then a
    -- name, then the smallest (client_name, cpf): the same input always keeps the same row.
    qualify row_number() over (
        partition by client_id
        order by
            is_cpf_valid desc,
            cpf is null asc,
            client_name is null asc,
            client_name asc,
            cpf asc
    ) = 1

),

final as (

    select
        deduplicated.*,
        versions.source_row_count

    from deduplicated
    inner join versions
        on deduplicated.client_id is not distinct from versions.client_id

)

select * from final
