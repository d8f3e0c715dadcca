with

clients as (

    select * from {{ ref('clients') }}

),

welcome_messages as (

    select * from {{ ref('welcome_messages') }}

),

marketing_messages as (

    select * from {{ ref('marketing_messages') }}

),

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

welcome as (

    select
        client_id,
        campaign_id,
        0 as round,
        message,
        null::timestamptz as generated_at,
        0 as position_group

    from welcome_messages

),

generated as (

    select
        marketing_messages.client_id,
        marketing_messages.campaign_id,
        marketing_messages.round,
        marketing_messages.message,
        marketing_messages.generated_at,
        1 as position_group

    from marketing_messages
    -- Only messages that may be sent: rejected and failed rows, and the messages of a campaign
    -- switched off since, stay visible in marketing_messages.
    inner join campaigns
        on
            marketing_messages.campaign_id = campaigns.campaign_id
            and campaigns.is_active
    where marketing_messages.status = 'ok'

),

unioned as (

    select * from welcome
    union all
    select * from generated

),

final as (

    select
        clients.client_id,
        clients.first_name,
        clients.cpf_masked,
        unioned.campaign_id,
        unioned.round,
        row_number() over (
            partition by clients.client_id
            order by unioned.position_group, unioned.campaign_id, unioned.round
        ) as message_number,
        unioned.message,
        unioned.generated_at

    from clients
    inner join unioned on clients.client_id = unioned.client_id

)

select * from final
