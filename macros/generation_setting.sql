{#- One setting of the generative step as marketing_messages runs with it: its `generation` config,
    rendered in dbt_project.yml from the generation_* vars (a --vars value, else the environment
    variable, else the default). For SQL that must agree with the generation, such as how many
    rounds to plan. Known once the project is parsed: none while parsing, where nothing runs. -#}
{% macro generation_setting(name) %}
    {%- set node = graph.nodes.get("model." ~ project_name ~ ".marketing_messages") if execute else none -%}
    {{ return(node.config.generation[name] if node else none) }}
{% endmacro %}
