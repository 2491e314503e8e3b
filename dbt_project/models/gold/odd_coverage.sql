-- ODD coverage cube: road class x speed band x weather x light x event type, with clip counts and
-- hours. A clip counts once per distinct event type that starts in it ('none' when it has none), so
-- hours summed over event types can exceed the fleet's hours; filter event_type to read totals.
with c as (select * from {{ ref('clip_metadata_enriched') }}),
ev as (select distinct clip_id, type from {{ ref('event_windows') }} where clip_id is not null),
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
