-- depends_on: {{ source('silver', 'event_detections') }}
-- The `events` contract: drive_id, type, t_start_ns, t_end_ns, severity, clip_id. Severity is read as
-- a number (try_cast: a non-numeric severity becomes NULL).
select * from {{ lake_parquet('silver/event_detections/*/part-0.parquet', {
    'drive_id': 'varchar', 'type': 'varchar', 't_start_ns': 'bigint', 't_end_ns': 'bigint',
    'severity': 'double', 'clip_id': 'varchar'}) }}
