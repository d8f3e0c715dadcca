{% macro print_failing_rows(failures_sql, label, limit=5) %}
    {#- Print the first distinct failing rows of a data test to dbt's output, so a failure names the
        row (a relationship's missing value once, not once per row). Called by the test
        materialization (macros/materializations/test.sql) once a test has failed or warned. The
        tests select key columns and masked values only: never a raw CPF. -#}
    {%- set preview = run_query('select distinct * from (' ~ failures_sql ~ ') as failures order by all limit ' ~ limit) -%}
    {%- for row in preview.rows -%}
        {%- set fields = [] -%}
        {%- for column in preview.column_names -%}
            {%- do fields.append(column ~ '=' ~ (row[column] | string)) -%}
        {%- endfor -%}
        {%- do log('  ' ~ label ~ ' failing row: ' ~ fields | join(', '), info=True) -%}
    {%- endfor -%}
{% endmacro %}


{% macro failing_rows_label(test_node) -%}
    {#- `cpf_is_valid(clients.cpf)`: the test's name, the model it tests and the column; a singular
        test's or a named test's own name. A test may name itself instead (`meta: {failing_rows_label: ...}`). -#}
    {%- set meta = test_node.config.meta or {} -%}
    {%- if meta.get('failing_rows_label') -%}
        {{ return(meta['failing_rows_label']) }}
    {%- endif -%}
    {%- if not test_node.get('test_metadata') -%}
        {#- A singular test (tests/dbt/): its file name says what it checks. -#}
        {{ return(test_node.name) }}
    {%- endif -%}
    {%- if not test_node.name.startswith(test_node.test_metadata.name ~ '_') -%}
        {#- A test given its own name in the YAML (`name:`): the name says what it checks. -#}
        {{ return(test_node.name) }}
    {%- endif -%}
    {%- set tested = (test_node.attached_node or 'model').split('.')[-1] -%}
    {%- set column_name = test_node.column_name -%}
    {{ return(test_node.test_metadata.name ~ '(' ~ tested ~ ('.' ~ column_name if column_name else '') ~ ')') }}
{%- endmacro %}


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
