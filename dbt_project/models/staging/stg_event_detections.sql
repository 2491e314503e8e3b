-- The `events` contract: drive_id, type, t_start_ns, t_end_ns, severity, clip_id. Severity is read as
-- a number (try_cast: a non-numeric severity becomes NULL).
select * from {{ lake_source('silver', 'event_detections', ['drive_id', 'type', 't_start_ns', 't_end_ns', 'severity', 'clip_id']) }}
