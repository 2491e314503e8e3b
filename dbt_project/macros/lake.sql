{#- A typed relation over lake Parquet: `rel_glob` relative to AV_LAKE_ROOT, `columns` {name: type}.
    Before the first file exists (a domain not run yet) it is an empty relation of the same columns,
    so gold builds on a young lake. Columns missing from the files read as NULL (union_by_name).
    Scoped to the run's drives (`var('drive_ids')`, see run_drive_ids): a per-drive layout
    (`<table>/*/part-0.parquet`, i.e. `<table>/drive_id=<id>/part-0.parquet`) is read only for those
    drives' files, and every relation with a drive_id column is filtered to them. -#}
{% macro lake_root() -%}
  {{- env_var('AV_LAKE_ROOT', '.av_lake') -}}
{%- endmacro %}

{#- The drives this run builds: `--vars '{drive_ids: [...]}'` (the Dagster asset always passes them),
    none = every drive in the inputs (a hand-run `dbt build`). -#}
{% macro run_drive_ids() -%}
  {{- return(var('drive_ids', none)) -}}
{%- endmacro %}

{% macro sql_string(s) -%}
  '{{ s | string | replace("'", "''") }}'
{%- endmacro %}

{#- A boolean SQL expression: `col` is one of the run's drives (true when the run is not scoped). -#}
{% macro in_run_drives(col='drive_id') -%}
  {%- set ids = run_drive_ids() -%}
  {%- if ids is none -%}true
  {%- elif ids | length == 0 -%}false
  {%- else -%}{{ col }} in ({% for d in ids %}{{ sql_string(d) }}{% if not loop.last %}, {% endif %}{% endfor %})
  {%- endif -%}
{%- endmacro %}

{#- The files a glob matches now, scoped to the run's drives for a per-drive layout. -#}
{% macro lake_files(rel_glob, exclude_run_drives=false) -%}
  {%- set files = [] -%}
  {%- if execute -%}
    {%- set path = lake_root() ~ '/' ~ rel_glob -%}
    {%- set res = run_query("select file from glob(" ~ sql_string(path) ~ ") order by file") -%}
    {%- set ids = run_drive_ids() -%}
    {%- set per_drive = '/*/' in rel_glob or 'drive_id=*' in rel_glob -%}
    {%- for f in res.columns[0].values() -%}
      {%- set part = (f | replace('\\', '/')).split('/')[-2] -%}
      {%- set drive = part[9:] if part.startswith('drive_id=') else none -%}
      {%- if not per_drive or ids is none -%}
        {%- if not (exclude_run_drives and per_drive) -%}{%- do files.append(f) -%}{%- endif -%}
      {%- elif exclude_run_drives -%}
        {%- if drive not in ids -%}{%- do files.append(f) -%}{%- endif -%}
      {%- elif drive in ids -%}
        {%- do files.append(f) -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
  {{- return(files) -}}
{%- endmacro %}

{% macro _file_list(files) -%}
  [{% for f in files %}{{ sql_string(f) }}{% if not loop.last %}, {% endif %}{% endfor %}]
{%- endmacro %}

{% macro lake_parquet(rel_glob, columns) -%}
  {%- set files = lake_files(rel_glob) -%}
  {%- if files | length > 0 -%}
    {%- set present = [] -%}
    {%- set desc = run_query("select column_name from (describe select * from read_parquet(" ~ _file_list(files) ~ ", union_by_name=true))") -%}
    {%- for v in desc.columns[0].values() -%}{%- do present.append(v) -%}{%- endfor -%}
  (select * from (select
    {%- for c, t in columns.items() %}
    {% if c in present %}try_cast({{ c }} as {{ t }}){% else %}cast(null as {{ t }}){% endif %} as {{ c }}{% if not loop.last %},{% endif %}
    {%- endfor %}
   from read_parquet({{ _file_list(files) }}, union_by_name=true))
   {%- if 'drive_id' in columns %} where {{ in_run_drives() }}{% endif %})
  {%- else -%}
  (select
    {%- for c, t in columns.items() %}
    cast(null as {{ t }}) as {{ c }}{% if not loop.last %},{% endif %}
    {%- endfor %}
   where false)
  {%- endif -%}
{%- endmacro %}

{#- Where a gold model's output of this run is staged: `gold/_runs/<gold_run>/<model>.parquet`. The
    Dagster asset then publishes it per drive (`gold/<model>/drive_id=<id>/part-0.parquet`, one atomic
    write per drive) or whole (`odd_coverage`), and removes the run folder. -#}
{% macro gold_run_location(model) -%}
  {{- lake_root() ~ '/gold/_runs/' ~ var('gold_run', 'manual') ~ '/' ~ model ~ '.parquet' -}}
{%- endmacro %}

{#- A per-drive gold model's rows of every *other* drive, as published by earlier runs: with this
    run's own rows (`ref(model)` scoped to the run's drives) it is the whole table. Empty (typed like
    `ref(model)`) before anything was published. -#}
{% macro published_gold_other_drives(model) -%}
  {%- set files = lake_files('gold/' ~ model ~ '/*/part-0.parquet', exclude_run_drives=true) -%}
  {%- if run_drive_ids() is none or files | length == 0 -%}
  (select * from {{ ref(model) }} where false)
  {%- else -%}
  (select * from read_parquet({{ _file_list(files) }}, union_by_name=true))
  {%- endif -%}
{%- endmacro %}

{#- on-run-start: a run that builds only some gold models (a Dagster subset) still refs the others;
    in-memory DuckDB has no relation for them, so each per-drive gold model not built by this run is
    registered as a view over its published partitions (every drive). -#}
{% macro register_published_gold() -%}
  {%- if execute -%}
    {%- for node in graph.nodes.values() -%}
      {%- if node.resource_type == 'model' and node.config.get('meta', {}).get('drive_partitioned')
            and node.unique_id not in selected_resources -%}
        {%- set files = [] -%}
        {%- set res = run_query("select file from glob(" ~ sql_string(lake_root() ~ '/gold/' ~ node.name ~ '/*/part-0.parquet') ~ ") order by file") -%}
        {%- for f in res.columns[0].values() -%}{%- do files.append(f) -%}{%- endfor -%}
        {%- if files | length > 0 -%}
          {%- do run_query("create or replace view " ~ node.schema ~ "." ~ node.alias ~ " as select * from read_parquet(" ~ _file_list(files) ~ ", union_by_name=true)") -%}
        {%- endif -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{%- endmacro %}

{#- A lake table declared in av_contracts/tables.py, as a typed relation: its glob and column types
    come from the source's generated `meta.av` (models/sources.yml), so no model spells a path or a
    type. `columns`: the names this model reads (default: every declared column). -#}
{% macro lake_source(source_name, table_name, columns=none) -%}
  {%- set rel = source(source_name, table_name) -%}
  {%- set spec = {'glob': none, 'columns': {}} -%}
  {%- if execute -%}
    {%- for node in graph.sources.values() -%}
      {%- if node.source_name == source_name and node.name == table_name -%}
        {%- do spec.update(node.meta['av']) -%}
      {%- endif -%}
    {%- endfor -%}
    {%- if spec['glob'] is none -%}
      {{ exceptions.raise_compiler_error("source " ~ source_name ~ "." ~ table_name ~ " has no meta.av (regenerate models/sources.yml: python -m av_contracts.tables --dbt-sources)") }}
    {%- endif -%}
  {%- endif -%}
  {%- set wanted = {} -%}
  {%- for c, t in spec['columns'].items() -%}
    {%- if columns is none or c in columns -%}{%- do wanted.update({c: t}) -%}{%- endif -%}
  {%- endfor -%}
  {%- if execute and columns is not none and wanted | length != columns | length -%}
    {{ exceptions.raise_compiler_error(source_name ~ "." ~ table_name ~ ": columns not in its contract: " ~ (columns | reject('in', spec['columns']) | list)) }}
  {%- endif -%}
  {{- lake_parquet(spec['glob'] or '', wanted) -}}
{%- endmacro %}
