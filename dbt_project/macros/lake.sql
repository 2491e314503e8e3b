{#- A typed relation over lake Parquet: `rel_glob` relative to AV_LAKE_ROOT, `columns` {name: type}.
    Before the first file exists (a domain not run yet) it is an empty relation of the same columns,
    so gold builds on a young lake. Columns missing from the files read as NULL (union_by_name). -#}
{% macro lake_root() -%}
  {{- env_var('AV_LAKE_ROOT', '.av_lake') -}}
{%- endmacro %}

{% macro lake_parquet(rel_glob, columns) -%}
  {%- set path = lake_root() ~ '/' ~ rel_glob -%}
  {%- set n = 0 -%}
  {%- if execute -%}
    {%- set res = run_query("select count(*) from glob('" ~ path ~ "')") -%}
    {%- set n = res.columns[0].values()[0] -%}
  {%- endif -%}
  {%- if n > 0 -%}
    {%- set present = [] -%}
    {%- set desc = run_query("select column_name from (describe select * from read_parquet('" ~ path ~ "', union_by_name=true))") -%}
    {%- for v in desc.columns[0].values() -%}{%- do present.append(v) -%}{%- endfor -%}
  (select
    {%- for c, t in columns.items() %}
    {% if c in present %}try_cast({{ c }} as {{ t }}){% else %}cast(null as {{ t }}){% endif %} as {{ c }}{% if not loop.last %},{% endif %}
    {%- endfor %}
   from read_parquet('{{ path }}', union_by_name=true))
  {%- else -%}
  (select
    {%- for c, t in columns.items() %}
    cast(null as {{ t }}) as {{ c }}{% if not loop.last %},{% endif %}
    {%- endfor %}
   where false)
  {%- endif -%}
{%- endmacro %}

{#- Write gold Parquet deterministically-ish: one file, rows ordered by the model's ORDER BY. -#}
