{{ config(
    materialized='incremental',
    unique_key=['client_id', 'campaign_id', 'round'],
    incremental_strategy='delete+insert',
) }}
-- The catalogue offer each ok generated message was written for, recorded in the build that wrote
-- the message (campaign_offers is what that build's prompts opened with). campaign_offers plans
-- again on every build, so once the catalogue changes it no longer says what an older message
-- offers: this record does, and marketing_messages' pre-hook rewrites a message whose offer has
-- been withdrawn since.
with

marketing_messages as (

    select * from {{ ref('marketing_messages') }}
    where status = 'ok'

),

campaign_offers as (

    select * from {{ ref('campaign_offers') }}

),

{% if is_incremental() %}
    recorded as (

        select * from {{ this }}

    ),
{% endif %}

-- Messages not recorded yet: new ones, and rows written again (a new answer, a new generated_at).
new_messages as (

    select
        marketing_messages.client_id,
        marketing_messages.campaign_id,
        marketing_messages.round,
        marketing_messages.generated_at

    from marketing_messages
    {% if is_incremental() %}
        anti join recorded using (client_id, campaign_id, round, generated_at)
    {% endif %}

),

final as (

    select
        new_messages.client_id,
        new_messages.campaign_id,
        new_messages.round,
        campaign_offers.offer_id,
        campaign_offers.offer,
        new_messages.generated_at

    from new_messages
    -- A message written without an offer (its segment had none) records none.
    left join campaign_offers using (client_id, campaign_id, round)

)

select * from final
