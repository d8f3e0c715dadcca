with

source as (

    select * from {{ ref('campaigns') }}

),

renamed as (

    select
        trim(campaign_id) as campaign_id,
        lower(trim(kind)) as kind,
        nullif(trim(template), '') as template,
        nullif(trim(instructions), '') as instructions,
        max_characters,
        trim(language) as language,
        temperature,
        coalesce(is_active, false) as is_active

    from source

),

final as (

    select * from renamed

)

select * from final
