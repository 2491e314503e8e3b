-- depends_on: {{ source('silver', 'weather_hourly') }}
select * from {{ lake_parquet('silver/weather_hourly/*.parquet', {
    'drive_id': 'varchar', 'hour_start_ns': 'bigint', 'condition': 'varchar', 'source': 'varchar'}) }}
