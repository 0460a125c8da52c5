{#-
  materialized='synthetic' (dbt-duckdb): the model's select is the confidential source; the relation built is its
  synthetic release, made by synthsql inside the database. Config keys are a synthsql catalog table's (method,
  params, purpose, seed, rows, max_rows, holdout, columns, rules, formulas, metrics, k, thresholds,
  exclude_target_levels) with the privacy keys flat (epsilon, delta, domain_share, noise, noise_seed). Any other
  key that is not dbt's is an error naming it.

  1. dbt runs the model's SQL as the temporary view <model>__source (this connection only; dbt runs the project's
     SQL, synthsql never does), and commits: synthsql writes in its own transaction.
  2. synthsql (synthsql.dbt_release.build_release) describes the view, fits, writes the synthetic table with the
     source's column types and its __model, __privacy (DP), __utility, __risk and __details tables, all in one
     transaction: a failure leaves the previous release in place. A DP model's row count is its noisy count.
  3. The synthetic table gets the model's docs (persist_docs); every table written is returned to dbt's cache.
-#}
{% materialization synthetic, adapter='duckdb' %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set source_name = this.identifier ~ '__source' -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {% call statement('synthsql_source') -%}
    create or replace temporary view {{ adapter.quote(source_name) }} as (
      {{ sql }}
    )
  {%- endcall %}
  {% do adapter.commit() %}

  {% call statement('main', language='python') -%}
    {{- synthsql.synthetic_python(model, target_relation) -}}
  {%- endcall %}

  {% call statement('synthsql_source_dropped') -%}
    drop view if exists {{ adapter.quote(source_name) }}
  {%- endcall %}

  {% do persist_docs(target_relation, model) %}
  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}

  {#- the tables synthsql wrote beside the release, for dbt's cache (tests read them through synthsql.companion) -#}
  {%- set kinds = ['model', 'privacy', 'utility', 'risk', 'details'] -%}
  {%- set written -%}
    select table_name from information_schema.tables
    where table_catalog = '{{ this.database | replace("'", "''") }}' and table_schema = '{{ this.schema | replace("'", "''") }}'
      and table_name in ({% for kind in kinds %}'{{ (this.identifier ~ '__' ~ kind) | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %})
  {%- endset -%}
  {%- set relations = [target_relation] -%}
  {%- for name in run_query(written).columns[0].values() | sort -%}
    {%- do relations.append(api.Relation.create(database=this.database, schema=this.schema, identifier=name, type='table')) -%}
  {%- endfor -%}
  {{ return({'relations': relations}) }}
{% endmaterialization %}


{#- The Python dbt-duckdb runs for a synthetic model: the whole config goes over as JSON, checked there. -#}
{% macro synthetic_python(model, relation) -%}
import json

from synthsql.dbt_release import build_release


class dbtObj:
    def __init__(self, load_df_function):
        pass


def model(dbt, con):
    build_release(
        con,
        config_json={{ tojson(tojson(model.config)) }},
        name={{ tojson(relation.identifier) }},
        schema={{ tojson(relation.schema) }},
        database={{ tojson(relation.database) }},
        where={{ tojson(model.original_file_path ~ ' (model ' ~ model.name ~ ')') }},
    )
    return None


def materialize(df, con):
    pass
{%- endmacro %}
