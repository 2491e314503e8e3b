{{ config(location=gold_run_location('odd_coverage')) }}
-- ODD coverage cube: road class x speed band x weather x light x event type, with clip counts and
-- hours. A clip counts once per distinct event type that starts in it ('none' when it has none), so
-- hours summed over event types can exceed the fleet's hours; filter event_type to read totals.
-- The cube spans every drive: this run's rows of the per-drive models plus the rows earlier runs
-- published for the other drives (see published_gold_other_drives).
with c as (
    select * from {{ ref('clip_metadata_enriched') }} where {{ in_run_drives() }}
    union all by name
    select * from {{ published_gold_other_drives('clip_metadata_enriched') }}
),
ew as (
    select * from {{ ref('event_windows') }} where {{ in_run_drives() }}
    union all by name
    select * from {{ published_gold_other_drives('event_windows') }}
),
ev as (select distinct clip_id, type from ew where clip_id is not null),
x as (
    select c.*, coalesce(ev.type, 'none') as event_type
    from c left join ev using (clip_id)
)
select
    road_class,
    speed_band,
    weather,
    day_night as light,
    event_type,
    count(distinct clip_id) as clip_count,
    count(distinct drive_id) as drive_count,
    round(sum(duration_s) / 3600.0, 6) as hours
from x
group by all
order by road_class, speed_band, weather, light, event_type
