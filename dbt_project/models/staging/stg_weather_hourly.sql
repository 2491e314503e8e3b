select * from {{ lake_source('silver', 'weather_hourly', ['drive_id', 'hour_start_ns', 'condition', 'source']) }}
