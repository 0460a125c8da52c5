{#-
  companion(relation, kind): the table synthsql wrote beside a release, as a relation. kind is one of
  utility, risk (the metric rows: metric, scope, value, detail), privacy (the DP ledger: one row per measurement,
  then the 'total' row with epsilon and delta), model (the fitted model as JSON, rows drawn and kept) or details.
  Pass ref('my_synthetic_model') (or source(...)) so that dbt's lineage runs from the release to what reads it:
      select * from {{ synthsql.companion(ref('persons_synthetic'), 'utility') }}
-#}
{% macro companion(relation, kind) -%}
  {%- set kinds = ['utility', 'risk', 'privacy', 'model', 'details'] -%}
  {%- if kind not in kinds -%}
    {{ exceptions.raise_compiler_error("synthsql.companion: kind must be one of " ~ kinds | join(', ') ~ ", got '" ~ kind ~ "'") }}
  {%- endif -%}
  {%- set name = relation.identifier ~ '__' ~ kind -%}
  {%- if execute -%}
    {%- set found = adapter.get_relation(database=relation.database, schema=relation.schema, identifier=name) -%}
    {%- if found is none -%}
      {%- set why = {'privacy': 'only a differentially private release has a privacy ledger',
                     'risk': "the release was built without 'risk' in its metrics",
                     'utility': "the release was built without 'utility' in its metrics"}.get(kind, 'was the release built by synthsql?') -%}
      {{ exceptions.raise_compiler_error("synthsql: " ~ relation ~ " has no table " ~ name ~ " (" ~ why ~ ")") }}
    {%- endif -%}
    {{ return(found) }}
  {%- endif -%}
  {{ return(api.Relation.create(database=relation.database, schema=relation.schema, identifier=name)) }}
{%- endmacro %}


{#- A number given to a test, checked before it is written into SQL. -#}
{% macro _number(test, name, value) -%}
  {%- if value is not number or value is sameas true or value is sameas false -%}
    {{ exceptions.raise_compiler_error(test ~ ": " ~ name ~ " must be a number, got '" ~ value ~ "'") }}
  {%- endif -%}
  {{ return(value) }}
{%- endmacro %}
