{% test rejected_share_at_most(model, rows_model, file_kind, max_share) %}
{#- On rejected_client_rows: fails when more than `max_share` of the data rows of the `file_kind`
    exports (rows_model, every row with `is_accepted`) were set aside. Then the file itself is likely
    wrong, and no message should go out from it: the models that depend on both rejected_client_rows
    and rows_model are skipped. The failing rows are the rejected ones; the first are printed after a
    line with the counts. -#}
{%- set totals -%}
select
    count(*) filter (where not is_accepted) as rejected_rows,
    count(*) as data_rows
from {{ rows_model }}
{%- endset -%}
{%- set failures -%}
with

totals as (

    {{ totals }}

)

select
    rejected.source_file,
    rejected.line_number,
    rejected.column_name,
    rejected.reason,
    rejected.raw_value
from {{ model }} as rejected
cross join totals
where rejected.file_kind = '{{ file_kind }}' and totals.rejected_rows > {{ max_share }} * totals.data_rows
{%- endset -%}
{%- set label = 'rejected_share_at_most(' ~ file_kind ~ ')' -%}
{{ config(meta={'print_failing_rows': true, 'failing_rows_label': label}) }}
{%- if execute and flags.WHICH in ('test', 'build') -%}
    {%- set counts = run_query(totals).rows[0] -%}
    {%- if counts['rejected_rows'] > (max_share | float) * counts['data_rows'] -%}
        {%- do log(
            '  ' ~ label ~ ': ' ~ counts['rejected_rows'] ~ ' of ' ~ counts['data_rows'] ~ ' ' ~ file_kind
            ~ ' rows set aside, more than max_rejected_client_share (' ~ max_share ~ '): no message is written'
            ~ ' from these files. Every row is in rejected_client_rows with its line and reason; fix the file,'
            ~ ' or raise the var if those rows may be left out.', info=True) -%}
    {%- endif -%}
{%- endif -%}
{{ failures }}
{% endtest %}
