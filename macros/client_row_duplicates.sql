{#- Duplicate rows in a client export, judged the same way for clients and accounts. A row with a
    problem of its own keeps that problem: duplicates are judged among the otherwise usable rows. -#}

{#- Every row of `relation` with the window columns `client_row_duplicate_issues` reads: whether its key
    has more than one version (a version is one combination of `version_columns`), the key's lines,
    and the rank of an exact repeat. Most keys are on one row, so the windows run over the usable rows
    of keys on more than one (found with a hash aggregate), not over the whole file; the other rows get
    nulls. A key has conflicting versions when fewer of its rows share a row's version than share its
    key: two counts, much cheaper than counting distinct versions. -#}
{% macro client_row_duplicates(relation, key, version_columns) -%}
    {%- set same_row = ([key] + version_columns) | join(', ') -%}
    select
        {{ relation }}.*,
        duplicate_rows.* exclude (source_file, line_number)
    from {{ relation }}
    left join (
        select
            source_file,
            line_number,
            count(*) over (partition by {{ key }}) as rows_for_key,
            count(*) over (partition by {{ key }}) > count(*) over (partition by {{ same_row }}) as has_conflicting_versions,
            min(line_number) over (partition by {{ key }}) as first_line_for_key,
            max(line_number) over (partition by {{ key }}) as last_line_for_key,
            row_number() over (partition by {{ same_row }} order by source_file, line_number) as repeat_number,
            first_value(line_number) over (partition by {{ same_row }} order by source_file, line_number) as first_line
        from {{ relation }}
        where
            len(value_issues) = 0
            and {{ key }} in (
                select {{ key }} from {{ relation }}
                where len(value_issues) = 0
                group by {{ key }}
                having count(*) > 1
            )
    ) as duplicate_rows using (source_file, line_number)
{%- endmacro %}

{#- The row's issues: its own, else one for a key with conflicting versions, else one for an exact
    repeat (the first line is kept). A row without window columns (null: its key is on no other
    usable row) has neither. The two issues are `client_row_issue` calls. -#}
{% macro client_row_duplicate_issues(conflict_issue, repeat_issue) -%}
    case
        when len(value_issues) > 0 then value_issues
        when has_conflicting_versions then [{{ conflict_issue }}]
        when repeat_number > 1 then [{{ repeat_issue }}]
        else []
    end
{%- endmacro %}

{#- What a base model's final CTE says of each row: its issues, their reasons as text, accepted or not. -#}
{% macro client_row_acceptance(issues='issues') -%}
    {{ issues }},
    nullif(array_to_string(list_transform({{ issues }}, issue -> issue.reason), ', '), '') as rejection_reasons,
    len({{ issues }}) = 0 as is_accepted
{%- endmacro %}
