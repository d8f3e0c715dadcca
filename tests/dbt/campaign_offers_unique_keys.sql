-- One offer per (client, campaign, round): the message is written for exactly one.
{{ config(meta={'print_failing_rows': true}) }}
select
    client_id,
    campaign_id,
    round,
    count(*) as offers
from {{ ref('campaign_offers') }}
group by client_id, campaign_id, round
having count(*) > 1
