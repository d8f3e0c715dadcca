{% test rows_follow_rules(model, rules, key_columns=none, shown=none) %}
{#- Rows breaking any of `rules` (a mapping: a rule's name to the condition every row meets), each
    with the names of the rules it breaks and the `shown` values (a mapping: a name to an expression,
    e.g. a message with its digits hidden). Several checks of one model in one scan and one dbt node:
    each data test costs dbt about 30 ms of its own work however small the table, more than the scan.
    Unlike expression_is_true, a null result breaks the rule: `amount >= 0` also says the amount is
    there; write `amount is null or amount >= 0` for a column that may be empty. -#}
{%- set keys = failing_row_keys(model, key_columns) -%}
{%- set failures -%}
select
    {%- for key in keys %}
    {{ key }},
    {%- endfor %}
    {%- for name, expression in (shown or {}).items() %}
    {{ expression }} as {{ adapter.quote(name) }},
    {%- endfor %}
    list_filter([
        {%- for name, condition in rules.items() %}
        case when not coalesce({{ condition }}, false) then '{{ name | replace("'", "''") }}' end
        {{- "," if not loop.last }}
        {%- endfor %}
    ], rule -> rule is not null) as broken_rules
from {{ model }}
where
    {%- for condition in rules.values() %}
    {{ "or " if not loop.first }}not coalesce({{ condition }}, false)
    {%- endfor %}
{%- endset -%}
{{ config(meta={'print_failing_rows': true}) }}
{{ failures }}
{% endtest %}
