{% macro log_failing_rows(failures_sql, test_label, limit=5) %}
    {#- Print the first failing rows of a data test to dbt's output, so a failure names the row.
        Runs only when dbt executes tests (`dbt test`, `dbt build`), never while compiling or linting.
        Callers select key columns and masked values only: never a raw CPF. -#}
    {%- if execute and flags.WHICH in ('test', 'build') -%}
        {%- set preview = run_query('select * from (' ~ failures_sql ~ ') as failures order by all limit ' ~ limit) -%}
        {%- for row in preview.rows -%}
            {%- set fields = [] -%}
            {%- for column in preview.column_names -%}
                {%- do fields.append(column ~ '=' ~ (row[column] | string)) -%}
            {%- endfor -%}
            {%- do log('  ' ~ test_label ~ ' failing row: ' ~ fields | join(', '), info=True) -%}
        {%- endfor -%}
    {%- endif -%}
{% endmacro %}


{% macro failing_row_keys(model, key_columns=none) %}
    {#- The columns that identify a row in a failing-rows query: `key_columns` (a name or a list) when
        given, else the model's first column (looked up only when dbt executes tests). -#}
    {%- if key_columns is string -%}
        {{ return([key_columns]) }}
    {%- elif key_columns is not none -%}
        {{ return(key_columns) }}
    {%- elif execute and flags.WHICH in ('test', 'build') -%}
        {#- A query, not get_columns_in_relation: with a `where` config `model` is a subquery. -#}
        {%- set columns = run_query('select * from ' ~ model ~ ' limit 0').column_names -%}
        {%- if columns | length > 0 -%}
            {{ return([adapter.quote(columns[0])]) }}
        {%- endif -%}
    {%- endif -%}
    {{ return([]) }}
{% endmacro %}


{% macro failing_row_label(test_name, model, column_name=none) -%}
    {#- `cpf_is_valid(clients.cpf)`. With a `where` config `model` is a subquery string: take the
        name of the relation it reads. -#}
    {%- set name = model.identifier if model.identifier is defined and model.identifier else none -%}
    {%- if name is none -%}
        {%- set found = modules.re.search('from\s+(\S+)', model | string) -%}
        {%- set name = found.group(1).split('.')[-1].strip('"') if found else 'model' -%}
    {%- endif -%}
    {{ test_name }}({{ name }}{{ '.' ~ column_name if column_name else '' }})
{%- endmacro %}
