{{ config(location=gold_run_location('slices'), meta={'drive_partitioned': true}) }}
-- Named slices of clips (one row per slice and clip). Definitions (docs/gold.md):
-- night: mostly night by sun elevation; rain / fog: clip weather; construction: any sample in a
-- construction zone; occlusion: an object track lost for 0.3-3 s and found again; highway: motorway/trunk (+links)
-- or a speed limit >= 80 km/h; urban: everything matched that is not highway with limits <= 60 km/h.
with c as (select * from {{ ref('clip_metadata_enriched') }} where {{ in_run_drives() }}),
occ as (
    select distinct c.clip_id
    from c join {{ ref('stg_object_tracks') }} t
        on t.drive_id = c.drive_id and t.t_ns >= c.t_start_ns and t.t_ns < c.t_end_ns
    where t.occluded
),
tagged as (
    select 'night' as slice, * from c where day_night = 'night'
    union all select 'rain', * from c where weather = 'rain'
    union all select 'fog', * from c where weather = 'fog'
    union all select 'construction', * from c where in_construction_zone
    union all select 'occlusion', * from c where clip_id in (select clip_id from occ)
    union all select 'highway', * from c
        where road_class in ('motorway', 'motorway_link', 'trunk', 'trunk_link') or speed_limit_max_kph >= 80
    union all select 'urban', * from c
        where road_class not in ('motorway', 'motorway_link', 'trunk', 'trunk_link', 'unknown')
          and speed_limit_max_kph <= 60
)
select slice, clip_id, drive_id, t_start_ns, t_end_ns, duration_s, road_class, weather, day_night
from tagged
order by slice, drive_id, t_start_ns
