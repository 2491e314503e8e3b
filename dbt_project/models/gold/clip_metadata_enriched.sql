{{ config(location=gold_run_location('clip_metadata_enriched'), meta={'drive_partitioned': true}) }}
-- One row per clip: the catalog row + the road context over the clip + weather.
-- Weather precedence: the drive's own report (clip_index) > the weather provider's hour
-- (weather_hourly, not climatology) > road_context's observed weather > climatology (weather_hourly's
-- or road_context's own fallback: its weather_source says which samples are climatology).
with clips as (select * from {{ ref('stg_clip_index') }}),
rc as (
    select
        c.clip_id,
        mode(r.road_class) as road_class,
        max(r.speed_limit_kph) as speed_limit_max_kph,
        avg(r.speed_limit_kph) as speed_limit_mean_kph,
        min(r.junction_dist_m) as junction_dist_min_m,
        coalesce(bool_or(r.in_construction_zone), false) as in_construction_zone,
        avg(case when r.in_construction_zone then 1.0 else 0.0 end) as construction_share,
        avg(r.match_quality) as match_quality_mean,
        avg(r.sun_elevation_deg) as sun_elevation_mean_deg,
        mode(r.day_night) as day_night,
        mode(r.weather) filter (where r.weather_source is distinct from 'climatology') as rc_weather,
        mode(r.weather) filter (where r.weather_source = 'climatology') as rc_climatology,
        count(r.t_ns) as context_samples
    from clips c
    left join {{ ref('stg_road_context') }} r
        on r.drive_id = c.drive_id and r.t_ns >= c.t_start_ns and r.t_ns < c.t_end_ns
    group by c.clip_id
),
wh as (
    select
        c.clip_id,
        max(case when w.source <> 'climatology' then w.condition end) as provider_weather,
        max(case when w.source = 'climatology' then w.condition end) as climatology_weather
    from clips c
    join {{ ref('stg_weather_hourly') }} w
        on w.drive_id = c.drive_id
        and w.hour_start_ns = (c.t_start_ns // 3600000000000) * 3600000000000
    group by c.clip_id
)
select
    c.clip_id,
    c.drive_id,
    c.vehicle_id,
    c.t_start_ns,
    c.t_end_ns,
    c.duration_s,
    c.duration_s / 3600.0 as hours,
    c.lat_centroid,
    c.lon_centroid,
    c.distance_m,
    c.speed_mean_mps,
    c.speed_max_mps,
    case
        when c.speed_mean_mps is null then 'unknown'
        when c.speed_mean_mps * 3.6 < 30 then '0-30'
        when c.speed_mean_mps * 3.6 < 50 then '30-50'
        when c.speed_mean_mps * 3.6 < 80 then '50-80'
        else '80+'
    end as speed_band,
    coalesce(rc.road_class, 'unknown') as road_class,
    rc.speed_limit_max_kph,
    rc.speed_limit_mean_kph,
    rc.junction_dist_min_m,
    coalesce(rc.in_construction_zone, false) as in_construction_zone,
    rc.construction_share,
    rc.match_quality_mean,
    rc.sun_elevation_mean_deg,
    coalesce(rc.day_night, 'unknown') as day_night,
    coalesce(
        c.weather, wh.provider_weather, rc.rc_weather, wh.climatology_weather, rc.rc_climatology, 'unknown'
    ) as weather,
    case
        when c.weather is not null then 'drive'
        when wh.provider_weather is not null then 'provider'
        when rc.rc_weather is not null then 'road_context'
        when coalesce(wh.climatology_weather, rc.rc_climatology) is not null then 'climatology'
        else 'none'
    end as weather_source,
    coalesce(rc.context_samples, 0) as context_samples
from clips c
left join rc using (clip_id)
left join wh using (clip_id)
order by c.drive_id, c.t_start_ns
