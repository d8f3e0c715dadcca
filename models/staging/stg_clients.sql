{%- set client_source = var('client_source') -%}
{%- if client_source not in ('seed', 'csv') -%}
    {{ exceptions.raise_compiler_error("var client_source must be 'seed' or 'csv', not '" ~ client_source ~ "'") }}
{%- endif -%}
{%- if client_source == 'csv' -%}
    {%- set source_relation = source('client_exports', 'clients') -%}
{%- else -%}
    {%- set source_relation = ref('raw_clients') -%}
{%- endif -%}

with

source as (

    select * from {{ source_relation }}

),

renamed as (

    select
        cast(trim(cast(id as varchar)) as integer) as client_id,
        {{ mask_cpf_like_digits(collapse_whitespace('nome')) }} as client_name,
        nullif(trim(cast(cpf as varchar)), '') as cpf_as_given,
        '{{ client_source }}' as source_system

    from source

),

cleaned as (

    select
        client_id,
        client_name,
        cpf_normalise(cpf_as_given) as cpf,
        cpf_as_given is not null and cpf_normalise(cpf_as_given) is null as is_cpf_malformed,
        source_system,
        cpf_as_given

    from renamed

),

final as (

    select
        * exclude (cpf_as_given),
        -- Versions of this client in the source: a row exported twice is one version, a second
        -- name or CPF for the same id is another (and fails the build: which one is right?).
        count(distinct row(client_name, coalesce(cpf, cpf_as_given))) over (
            partition by client_id
        ) as source_row_count

    from cleaned
    -- One row per client_id. Among duplicates keep, in order: a valid CPF, then any CPF, then a
    -- name, then the smallest (client_name, cpf): the same input always keeps the same row.
    qualify row_number() over (
        partition by client_id
        order by
            cpf_is_valid(cpf) desc,
            cpf is null asc,
            client_name is null asc,
            client_name asc,
            cpf asc
    ) = 1

)

select * from final
