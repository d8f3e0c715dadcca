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
        given, else the model's first column. -#}
    {%- if key_columns is string -%}
        {{ return([key_columns]) }}
    {%- elif key_columns is not none -%}
        {{ return(key_columns) }}
    {%- elif execute -%}
        {%- set columns = adapter.get_columns_in_relation(model) -%}
        {%- if columns | length > 0 -%}
            {{ return([adapter.quote(columns[0].name)]) }}
        {%- endif -%}
    {%- endif -%}
    {{ return([]) }}
{% endmacro %}


{% macro failing_row_label(test_name, model, column_name=none) -%}
    {{ test_name }}({{ model.identifier }}{{ '.' ~ column_name if column_name else '' }})
{%- endmacro %}
