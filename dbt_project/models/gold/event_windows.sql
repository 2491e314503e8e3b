{{ config(location=gold_run_location('event_windows'), meta={'drive_partitioned': true}) }}
-- Detections merged per drive and type (overlapping or <= 1 s apart), each window enriched with the
-- road context over it (+-100 ms) and re-attached to the clip holding its start.
with ev as (
    select * from {{ ref('stg_event_detections') }}
    where drive_id is not null and type is not null and t_start_ns is not null
),
ordered as (
    select *,
        max(coalesce(t_end_ns, t_start_ns)) over (
            partition by drive_id, type order by t_start_ns, t_end_ns
            rows between unbounded preceding and 1 preceding) as prev_end
    from ev
),
grouped as (
    select *,
        sum(case when prev_end is null or t_start_ns > prev_end + 1000000000 then 1 else 0 end) over (
            partition by drive_id, type order by t_start_ns, t_end_ns
            rows between unbounded preceding and current row) as grp
    from ordered
),
windows as (
    select
        drive_id,
        type,
        min(t_start_ns) as t_start_ns,
        max(coalesce(t_end_ns, t_start_ns)) as t_end_ns,
        max(severity) as severity,
        count(*) as n_detections
    from grouped
    group by drive_id, type, grp
),
ctx as (
    select
        w.drive_id, w.type, w.t_start_ns,
        mode(r.road_class) as road_class,
        max(r.speed_limit_kph) as speed_limit_kph,
        min(r.junction_dist_m) as junction_dist_min_m,
        bool_or(r.in_construction_zone) as in_construction_zone,
        mode(r.day_night) as day_night,
        mode(r.weather) as weather
    from windows w
    left join {{ ref('stg_road_context') }} r
        on r.drive_id = w.drive_id
        and r.t_ns between w.t_start_ns - 100000000 and w.t_end_ns + 100000000
    group by w.drive_id, w.type, w.t_start_ns
)
select
    w.drive_id || ':' || w.type || ':' || cast(w.t_start_ns as varchar) as event_id,
    w.drive_id,
    w.type,
    w.t_start_ns,
    w.t_end_ns,
    (w.t_end_ns - w.t_start_ns) / 1e9 as duration_s,
    w.severity,
    w.n_detections,
    c.clip_id,
    coalesce(ctx.road_class, 'unknown') as road_class,
    ctx.speed_limit_kph,
    ctx.junction_dist_min_m,
    coalesce(ctx.in_construction_zone, false) as in_construction_zone,
    coalesce(ctx.day_night, 'unknown') as day_night,
    coalesce(ctx.weather, 'unknown') as weather
from windows w
left join ctx using (drive_id, type, t_start_ns)
left join {{ ref('stg_clip_index') }} c
    on c.drive_id = w.drive_id and w.t_start_ns >= c.t_start_ns and w.t_start_ns < c.t_end_ns
order by w.drive_id, w.t_start_ns, w.type
