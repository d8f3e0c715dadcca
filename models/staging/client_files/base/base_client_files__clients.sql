-- Every data row of the client exports (or of the raw_clients seed in demo mode), checked: a row that
-- cannot be used carries its problems in `issues` and is set aside (rejected_client_rows), never
-- dropped in silence and never failing the other rows. A table, so each file is parsed once per build
-- and names are repaired once (repair_text is a plugin UDF): it holds no raw CPF, only the masked one.
{{ config(materialized='table') }}

{%- set max_name_length = var('client_name_max_length') -%}
{%- set max_field_length = var('client_field_max_length') -%}
{#- What was in the file, for the people fixing it: on one line, CPF-like digits masked, and every
    digit of the CPF column hidden. -#}
{%- set id_shown = mask_cpf_like_digits("left(regexp_replace(id_text, '\\p{Cc}', ' ', 'g'), 40)") -%}
{%- set name_shown = mask_cpf_like_digits("left(regexp_replace(name_text, '\\p{Cc}', ' ', 'g'), 80)")
    ~ " || case when length(name_text) > 80 then '…' else '' end" -%}
{%- set cpf_shown = "regexp_replace(left(cpf_text, 40), '[0-9]', '#', 'g')" -%}
{#- A link or an e-mail address typed into the name (or pasted instead of it): no message may greet
    a client by it, nor carry it to a model. -#}
{%- set link_pattern = "'(?i)(https?://|www\\.|[^\\s@]+@[^\\s@]+\\.[a-z])'" -%}
{%- set name_has_link = "coalesce(regexp_matches(name_cleaned, " ~ link_pattern ~ "), false)" -%}

with

source as (

    select * from {{ client_file_rows('clients', 'raw_clients') }}

),

texts as (

    select
        source_file,
        line_number,
        field_count_problem,
        nullif(trim(id), '') as id_text,
        nullif(trim(nome), '') as name_text,
        nullif(trim(cpf), '') as cpf_text

    from source

),

repaired as (

    select
        *,
        -- Mojibake (`JoÃ£o`), HTML entities, Windows-1252 characters read as control codes: repaired
        -- with ftfy, only in rows that look broken. A value too long to be a name is not repaired.
        case
            when length(name_text) > {{ max_field_length }} then null
            when looks_mangled(name_text) then repair_text(name_text)
            else name_text
        end as name_repaired

    from texts
    -- A row whose every field is blank (spreadsheets export empty rows as `;;`) holds no client.
    where
        coalesce(id_text, name_text, cpf_text) is not null
        or field_count_problem = 'extra_fields'

),

parsed as (

    select
        *,
        case
            -- A spreadsheet that stored the id as a number writes `72.0`.
            when regexp_full_match(id_text, '[0-9]{1,9}([.,]0+)?')
                then cast(regexp_extract(id_text, '^[0-9]+') as integer)
        end as client_id,
        {{ clean_person_name('name_repaired') }} as name_cleaned,
        coalesce(name_repaired <> name_text, false) as is_name_repaired,
        regexp_full_match(cpf_text, '[0-9]+([.,][0-9]+)?[eE][+]?[0-9]+') as is_cpf_precision_lost,
        -- A spreadsheet that stored the CPF as a number writes `52998224725.0`.
        cpf_normalise(regexp_replace(cpf_text, '^([0-9]{9,11})[.,]0+$', '\1')) as cpf

    from repaired

),

cased as (

    select
        *,
        {{ person_name_case('name_cleaned') }} as name_cased

    from parsed

),

named as (

    select
        *,
        -- Longer names are cut at a word boundary and flagged, never rejected.
        length(name_cased) > {{ max_name_length }} as is_name_truncated,
        case
            when length(name_cased) > {{ max_name_length }}
                then left(
                    regexp_replace(left(name_cased, {{ max_name_length + 1 }}), '\s+\S*$', ''),
                    {{ max_name_length }}
                )
            else name_cased
        end as client_name

    from cased

),

checked as (

    select
        *,
        -- The list is built only for the few rows with a problem (the same tests, cheaper), and what
        -- each shows of the file (id_shown and the others, above) is computed for those rows only.
        case
            when
                field_count_problem is not null
                or client_id is null
                or name_text is null
                or length(name_text) > {{ max_field_length }}
                or not coalesce(regexp_matches(name_cleaned, '\p{L}'), false)
                or {{ name_has_link }}
                or is_cpf_precision_lost
                or (cpf_text is not null and cpf is null)
                then list_filter([
                    {{ client_row_field_count_issues() }},
                    {{ client_row_issue(
                        "field_count_problem is null and id_text is null", 'id', 'id_missing', detail="'no client id'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and id_text is not null and client_id is null",
                        'id', 'id_not_integer', id_shown, "'not a whole number of at most 9 digits'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and length(name_text) > " ~ max_field_length,
                        'nome', 'name_too_long', name_shown,
                        "format('{:,} characters, more than the {:,} a name may have', length(name_text), "
                        ~ max_field_length ~ ")"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and name_text is null", 'nome', 'name_missing', detail="'no name'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and length(name_text) <= " ~ max_field_length
                        ~ " and not coalesce(regexp_matches(name_cleaned, '\p{L}'), false)",
                        'nome', 'name_unusable', name_shown,
                        "'no letter left once markup, control characters and CPF-like digits are removed'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and " ~ name_has_link,
                        'nome', 'name_has_link', name_shown,
                        "'a link or an e-mail address in the name: no message may greet a client by it; fix the name'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and is_cpf_precision_lost",
                        'CPF', 'cpf_precision_lost', cpf_shown,
                        "'saved as a number in scientific notation: its last digits are lost; export the column as text'"
                    ) }},
                    {{ client_row_issue(
                        "field_count_problem is null and cpf_text is not null and cpf is null and not is_cpf_precision_lost",
                        'CPF', 'cpf_malformed', cpf_shown,
                        "'not 11 digits once punctuation is removed (9 or 10 are padded with zeros)'"
                    ) }}
                ], issue -> issue is not null)
            else []
        end as value_issues

    from named

),

judged_duplicates as (

    {{ client_row_duplicates('checked', 'client_id', ['client_name', 'cpf']) }}

),

judged as (

    select
        *,
        {{ client_row_duplicate_issues(
            client_row_issue(
                none, 'id', 'duplicate_id', 'cast(client_id as varchar)',
                "'the same id with a different name or CPF on ' || case when rows_for_key = 2 then 'lines '"
                ~ " || first_line_for_key || ' and ' || last_line_for_key else rows_for_key || ' lines, from '"
                ~ " || first_line_for_key || ' to ' || last_line_for_key end || ': which one is right?'"
            ),
            client_row_issue(
                none, 'id', 'duplicate_row', 'cast(client_id as varchar)',
                "'the same client (id, name and CPF) as line ' || first_line || ', kept once'"
            )
        ) }} as issues

    from judged_duplicates

),

shared_cpfs as (

    -- One CPF on two accepted clients: both kept, flagged, and named by a warning test.
    select
        cpf,
        list(client_id order by client_id) as client_ids

    from judged
    where len(issues) = 0 and cpf is not null
    group by cpf
    having count(*) > 1

),

final as (

    select
        judged.source_file,
        judged.line_number,
        judged.client_id,
        judged.client_name,
        judged.is_name_truncated,
        judged.is_name_repaired,
        cpf_mask(judged.cpf) as cpf_masked,
        judged.cpf is not null as has_cpf,
        cpf_is_valid(judged.cpf) as is_cpf_valid,
        -- Only accepted rows share a CPF (a condition here, not in the join: an equi-join is a hash join).
        shared_cpfs.cpf is not null and len(judged.issues) = 0 as is_cpf_shared,
        case
            when len(judged.issues) = 0
                then list_filter(shared_cpfs.client_ids, other_id -> other_id <> judged.client_id)
        end as cpf_shared_with_client_ids,
        {{ client_row_acceptance('judged.issues') }},
        '{{ var('client_source') }}' as source_system

    from judged
    left join shared_cpfs
        on judged.cpf = shared_cpfs.cpf

)

select * from final
