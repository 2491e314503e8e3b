-- depends_on: {{ source('catalog', 'clip_index') }}
select * from {{ lake_parquet('catalog/clip_index/*/part-0.parquet', {
    'clip_id': 'varchar', 'drive_id': 'varchar', 'vehicle_id': 'varchar',
    't_start_ns': 'bigint', 't_end_ns': 'bigint', 'duration_s': 'double',
    'lat_centroid': 'double', 'lon_centroid': 'double', 'distance_m': 'double',
    'speed_mean_mps': 'double', 'speed_max_mps': 'double', 'weather': 'varchar'}) }}
