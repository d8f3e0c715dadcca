{#- One setting of the generative step as marketing_messages runs with it, for SQL that must agree
    with the generation, such as how many rounds to plan: its `generation` config (the generation_*
    var rendered in dbt_project.yml), else its environment variable MARKETING_<NAME>, else `default`,
    which must be python_udfs/generation/settings.py's (a test keeps them equal). Read when the model
    runs, as the Python model reads it; none while parsing, where nothing runs. -#}
{% macro generation_setting(name, default) %}
    {%- set node = graph.nodes.get("model." ~ project_name ~ ".marketing_messages") if execute else none -%}
    {%- if not node -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set rendered = node.config.generation[name] -%}
    {{ return(rendered if rendered | string | trim != '' else env_var('MARKETING_' ~ name | upper, default)) }}
{% endmacro %}


{#- The rounds marketing_messages plans, 1 to its `rounds` setting: a `round` (integer) per row. -#}
{% macro generation_rounds() -%}
    select cast(range as integer) as round
    from range(1, cast('{{ generation_setting("rounds", 1) }}' as integer) + 1)
{%- endmacro %}
