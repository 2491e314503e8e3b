-- Occlusion proxy: a track whose updates stop and resume within 0.3-3 s (it was hidden, then seen
-- again). One row per such gap, at the time the track was lost.
with t as (
    select * from {{ lake_source('silver', 'object_tracks', ['drive_id', 'track_id', 't_ns']) }}
),
g as (
    select drive_id, track_id, t_ns,
        lead(t_ns) over (partition by drive_id, track_id order by t_ns) - t_ns as gap_ns
    from t
)
select drive_id, track_id, t_ns, true as occluded
from g
where gap_ns between 300000000 and 3000000000
