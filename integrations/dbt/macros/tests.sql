{#-
  Generic tests on a synthetic release, read from the metric tables synthsql stored when it built the release
  (the metrics' meaning is synthsql's: see its metric registry). Each returns one row per failure; a metric that was
  not stored is a failure too (a test never passes on a missing measurement).

  models:
    - name: persons_synthetic
      data_tests:
        - synthsql.synthsql_tvd_below: {max: 0.05}             # mean 2-way TVD (way: 1, 2, 3; statistic: mean, max)
        - synthsql.synthsql_no_replicated_uniques              # no record unique in the source is copied
        - synthsql.synthsql_rules_hold                         # every declared edit rule holds in every row
        - synthsql.synthsql_budget_within: {epsilon: 1.0, delta: 1.0e-9}
-#}

{% test synthsql_tvd_below(model, max, way=2, statistic='mean') %}
  {%- set limit = synthsql._number('synthsql_tvd_below', 'max', max) -%}
  {%- if way not in [1, 2, 3] or statistic not in ['mean', 'max'] -%}
    {{ exceptions.raise_compiler_error("synthsql_tvd_below: way must be 1, 2 or 3 and statistic 'mean' or 'max', got " ~ way ~ ", '" ~ statistic ~ "'") }}
  {%- endif -%}
  {%- set metric = 'tvd_' ~ way ~ 'way_' ~ statistic -%}
  select wanted.metric, stored.value, {{ limit }} as max_allowed
  from (select '{{ metric }}' as metric) as wanted
  left join (
    select metric, value from {{ synthsql.companion(model, 'utility') }} where scope = 'table'
  ) as stored on stored.metric = wanted.metric
  where stored.value is null or stored.value > {{ limit }}
{% endtest %}


{% test synthsql_no_replicated_uniques(model, max_count=0) %}
  {%- set limit = synthsql._number('synthsql_no_replicated_uniques', 'max_count', max_count) -%}
  select wanted.metric, stored.scope, stored.value, {{ limit }} as max_allowed
  from (select 'unique_exact_matches' as metric) as wanted
  left join (
    select metric, scope, value from {{ synthsql.companion(model, 'risk') }}
  ) as stored on stored.metric = wanted.metric
  where stored.value is null or stored.value > {{ limit }}
{% endtest %}


{% test synthsql_rules_hold(model) %}
  {%- set stored = synthsql.companion(model, 'utility') -%}
  select scope as rule, value as violation_rate, detail
  from {{ stored }}
  where metric = 'rule_violation_rate' and (value is null or value > 0)
  union all
  select 'no edit rule was declared for this release' as rule, null as violation_rate, null as detail
  where not exists (select 1 from {{ stored }} where metric = 'rule_violation_rate')
{% endtest %}


{% test synthsql_budget_within(model, epsilon, delta=none) %}
  {%- set most = synthsql._number('synthsql_budget_within', 'epsilon', epsilon) -%}
  {%- if delta is not none -%}{%- set most_delta = synthsql._number('synthsql_budget_within', 'delta', delta) -%}{%- endif -%}
  {%- set ledger = synthsql.companion(model, 'privacy') -%}
  select step, epsilon, delta, differentially_private
  from {{ ledger }}
  where step = 'total' and (
    epsilon is null or epsilon > {{ most }}
    {%- if delta is not none %} or delta is null or delta > {{ most_delta }}{% endif %}
    or not differentially_private
  )
  union all
  select 'no total row in the ledger' as step, null as epsilon, null as delta, null as differentially_private
  where not exists (select 1 from {{ ledger }} where step = 'total')
{% endtest %}
