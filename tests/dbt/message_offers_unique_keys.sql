-- One recorded offer per client, campaign and round: the incremental delete+insert replaces it.
{{ config(meta={'print_failing_rows': true}) }}
select
    client_id,
    campaign_id,
    round,
    count(*) as records
from {{ ref('message_offers') }}
group by client_id, campaign_id, round
having count(*) > 1
