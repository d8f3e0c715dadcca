{#- Reading the client exports (the `csv` client source), one file at a time, every value as text.

    Each file's dialect (encoding, delimiter, header) comes from the preflight when the pipeline ran it
    (`python -m python_udfs.client_files`, which passes its findings in MARKETING_CLIENT_FILES), else
    from a small detection here, at compile time: UTF-8 (with or without BOM), UTF-16 with a BOM, else
    Latin-1/Windows-1252; the delimiter that splits the header line into the most columns. The vars
    `csv_delimiter` and `csv_encoding` (MARKETING_CSV_DELIMITER, MARKETING_CSV_ENCODING) override
    both unless they are `auto`.

    Rows are never refused by the reader: a row with fewer or more fields than the header is read
    (padded with nulls, extra fields cut) and flagged in `field_count_problem`, so staging sets it
    aside with its line number instead of the whole file failing. -#}

{% macro client_file_columns(kind) %}
    {#- The columns each kind of export must have, as the staging models name them. -#}
    {%- if kind == 'clients' -%}
        {{ return(['id', 'nome', 'cpf']) }}
    {%- elif kind == 'accounts' -%}
        {{ return(['client_id', 'agency', 'account_number', 'balance', 'credit_limit', 'card_limit']) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("unknown client file kind '" ~ kind ~ "': clients or accounts") }}
{% endmacro %}


{% macro client_file_rows(kind, seed_name) %}
    {#- Every data row of the `kind` exports (or of the seed, in demo mode): source_file, line_number,
        one text column per required column, field_count_problem ('missing_fields', 'extra_fields'). -#}
    {%- set columns = client_file_columns(kind) -%}
    {%- if client_source() == 'seed' -%}
        {{ return(client_seed_rows(ref(seed_name), seed_name, columns)) }}
    {%- endif -%}
    {#- Called for dbt's lineage only: the files are read with read_csv below. -#}
    {%- do source('client_exports', kind) -%}
    {%- set files = client_file_dialects(kind) -%}
    {%- if files | length == 0 -%}
        {{ return(client_empty_rows(columns)) }}
    {%- endif -%}
    {%- set selects = [] -%}
    {%- for file in files -%}
        {%- do selects.append('(' ~ client_file_select(file, columns) ~ ')') -%}
    {%- endfor -%}
    {{ return('(' ~ selects | join('\n    union all\n    ') ~ ')') }}
{% endmacro %}


{% macro client_source() %}
    {%- set value = var('client_source') -%}
    {%- if value not in ('seed', 'csv') -%}
        {{ exceptions.raise_compiler_error("var client_source must be 'seed' or 'csv', not '" ~ value ~ "'") }}
    {%- endif -%}
    {{ return(value) }}
{% endmacro %}


{% macro client_seed_rows(relation, seed_name, columns) %}
    {%- set selected = [] -%}
    {%- for column in columns -%}
        {%- do selected.append('cast(' ~ adapter.quote(column) ~ ' as varchar) as ' ~ column) -%}
    {%- endfor -%}
    {%- set sql -%}
        (
            select
                'seeds/{{ seed_name }}.csv' as source_file,
                row_number() over () + 1 as line_number,
                {{ selected | join(',\n                ') }},
                cast(null as varchar) as field_count_problem
            from {{ relation }}
        )
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}


{% macro client_empty_rows(columns) %}
    {%- set sql -%}
        (
            select
                cast(null as varchar) as source_file,
                cast(null as bigint) as line_number,
                {%- for column in columns %}
                cast(null as varchar) as {{ column }},
                {%- endfor %}
                cast(null as varchar) as field_count_problem
            where false
        )
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}


{% macro client_file_select(file, columns) %}
    {#- One file read with its dialect. Every field is text (`col_1` ... in file order) plus one
        overflow column; `nullstr` is a value no export holds, so an empty field is '' and only a
        missing field (null padding) is null. Line numbers count the header and the line breaks
        inside quoted values; blank lines, which the reader skips, are not counted. -#}
    {%- set field_count = file.field_count | int -%}
    {%- set csv_columns = [] -%}
    {%- for position in range(1, field_count + 2) -%}
        {%- do csv_columns.append("'col_" ~ position ~ "': 'varchar'") -%}
    {%- endfor -%}
    {%- set path = file.path | replace("'", "''") -%}
    {%- set sql -%}
        select
            '{{ file.get('source_file', file.path) | replace("'", "''") }}' as source_file,
            cast({{ 1 if file.has_header else 0 }} + record_number + coalesce(breaks_before, 0) as bigint)
                as line_number,
            {%- for column in columns %}
            col_{{ file.positions[column] }} as {{ column }},
            {%- endfor %}
            case
                when col_{{ field_count + 1 }} is not null then 'extra_fields'
                when col_{{ field_count }} is null then 'missing_fields'
            end as field_count_problem
        from (
            select
                *,
                {#- Both windows follow the reader's order (parallel = false): no sort of the file. -#}
                row_number() over () as record_number,
                sum(
                    case
                        when contains(concat_ws('', *columns('col_[0-9]+')), chr(10))
                            then length(concat_ws('', *columns('col_[0-9]+')))
                            - length(replace(concat_ws('', *columns('col_[0-9]+')), chr(10), ''))
                        else 0
                    end
                ) over (rows between unbounded preceding and 1 preceding) as breaks_before
            from read_csv(
                '{{ path }}',
                auto_detect = false,
                header = {{ 'true' if file.has_header else 'false' }},
                delim = '{{ file.delimiter | replace("'", "''") }}',
                quote = '"',
                escape = '"',
                encoding = '{{ file.encoding }}',
                null_padding = true,
                nullstr = '__client_file_null__',
                strict_mode = false,
                parallel = false,
                columns = { {{ csv_columns | join(', ') }} }
            )
        )
    {%- endset -%}
    {{ return(sql) }}
{% endmacro %}


{% macro client_file_dialects(kind) %}
    {#- [{path, encoding, delimiter, has_header, field_count, positions: {column: 1-based position}}],
        one per file of `kind`: the preflight's findings when the pipeline passed them (with
        `source_file`, the export's own path when `path` is a UTF-8 copy of it), else detected. -#}
    {%- set prepared = env_var('MARKETING_CLIENT_FILES', '') -%}
    {%- if prepared -%}
        {{ return(fromjson(prepared)[kind]) }}
    {%- endif -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set pattern = client_file_pattern(kind) | replace("'", "''") -%}
    {%- set paths = run_query("select file from glob('" ~ pattern ~ "') order by file").columns[0].values() -%}
    {%- if kind == 'clients' and paths | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "no clients file matches '" ~ pattern ~ "': put the export there or set the dbt var "
            ~ "clients_csv_path (or MARKETING_CLIENTS_CSV); python -m python_udfs.client_files checks it") }}
    {%- endif -%}
    {%- set dialects = [] -%}
    {%- for path in paths -%}
        {%- do dialects.append(detect_client_file_dialect(path, kind)) -%}
    {%- endfor -%}
    {{ return(dialects) }}
{% endmacro %}


{% macro client_file_pattern(kind) %}
    {%- if kind == 'clients' -%}
        {{ return(env_var('MARKETING_CLIENTS_CSV', var('clients_csv_path'))) }}
    {%- endif -%}
    {{ return(env_var('MARKETING_ACCOUNTS_CSV', var('accounts_csv_path'))) }}
{% endmacro %}


{% macro detect_client_file_dialect(path, kind) %}
    {#- The compile-time detection used when dbt runs without the preflight. -#}
    {%- set quoted_path = path | replace("'", "''") -%}
    {%- set encoding = env_var('MARKETING_CSV_ENCODING', var('csv_encoding', 'auto')) | lower -%}
    {%- set delimiter = env_var('MARKETING_CSV_DELIMITER', var('csv_delimiter', 'auto')) -%}
    {%- set probe_sql -%}
        select
            -- ltrim stops at the file's first visible character; trim took 0.4 s on a 45 MB file.
            coalesce(ltrim(try(decode(content)), ' ' || chr(9) || chr(10) || chr(13)) = '', false)
            or octet_length(content) = 0 as is_empty,
            case
                when content[1:2] in (from_hex('FFFE'), from_hex('FEFF')) then 'utf-16'
                when try(decode(content)) is null then 'latin-1'
                else 'utf-8'
            end as encoding,
            -- Bytes 0x80-0x9F: Windows-1252 punctuation (or CP850), which DuckDB's Latin-1 refuses.
            -- A case, not `and`: the hex of a UTF-8 file (twice its size) is never built.
            case
                when try(decode(content)) is null
                    then regexp_matches(hex(content), '^(?:..)*?[89][0-9A-F]')
                else false
            end as has_windows_bytes
        from read_blob('{{ quoted_path }}')
    {%- endset -%}
    {%- set probe = run_query(probe_sql).rows[0] -%}
    {%- if probe['is_empty'] -%}
        {{ exceptions.raise_compiler_error(path ~ ": the file is empty (not even a header line)") }}
    {%- endif -%}
    {%- if encoding == 'auto' -%}
        {%- set encoding = probe['encoding'] -%}
    {%- elif encoding in ('utf8', 'utf-8-sig') -%}
        {%- set encoding = 'utf-8' -%}
    {%- elif encoding in ('windows-1252', 'cp1252', 'iso-8859-1', 'latin1') -%}
        {%- set encoding = 'latin-1' -%}
    {%- endif -%}
    {%- if encoding == 'latin-1' and probe['has_windows_bytes'] -%}
        {{ exceptions.raise_compiler_error(
            path ~ ": a Windows-1252 (or DOS) export with characters DuckDB cannot read on its own (curly "
            ~ "quotes, dashes): run it through `python -m python_udfs.pipeline`, whose preflight reads it "
            ~ "through a UTF-8 copy, or save it as UTF-8") }}
    {%- endif -%}
    {%- set header_sql -%}
        select line from read_csv(
            '{{ quoted_path }}', auto_detect = false, header = false, delim = E'\x1f', quote = '',
            escape = '', encoding = '{{ encoding }}', strict_mode = false, columns = {'line': 'varchar'}
        )
        limit 1
    {%- endset -%}
    {%- set header_line = run_query(header_sql).columns[0].values()[0] or '' -%}
    {%- if delimiter == 'auto' -%}
        {%- set counts = {} -%}
        {%- for candidate in [';', ',', '\t', '|'] -%}
            {%- do counts.update({candidate: header_line.count(candidate)}) -%}
        {%- endfor -%}
        {%- set delimiter = counts | dictsort(by='value') | last | first -%}
    {%- elif delimiter in ('tab', '\\t') -%}
        {%- set delimiter = '\t' -%}
    {%- endif -%}
    {%- set header = [] -%}
    {%- for name in header_line.split(delimiter) -%}
        {%- do header.append(name.strip().strip('"').strip().lower()) -%}
    {%- endfor -%}
    {%- set positions = {} -%}
    {%- set missing = [] -%}
    {%- for column in client_file_columns(kind) -%}
        {%- if column in header -%}
            {%- do positions.update({column: header.index(column) + 1}) -%}
        {%- else -%}
            {%- do missing.append(column) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error(
            path ~ ", line 1: missing required column(s) " ~ missing | join(', ') ~ " (the header read with delimiter '"
            ~ delimiter ~ "' has: " ~ header | join(', ') ~ ")") }}
    {%- endif -%}
    {{ return({
        'path': path, 'encoding': encoding, 'delimiter': delimiter, 'has_header': true,
        'field_count': header | length, 'positions': positions,
    }) }}
{% endmacro %}
