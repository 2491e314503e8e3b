-- depends_on: {{ source('silver', 'road_context') }}
select * from {{ lake_parquet('silver/road_context/*/part-0.parquet', {
    'drive_id': 'varchar', 't_ns': 'bigint', 'lat': 'double', 'lon': 'double',
    'road_class': 'varchar', 'speed_limit_kph': 'double', 'junction_dist_m': 'double',
    'in_construction_zone': 'boolean', 'match_quality': 'double', 'sun_elevation_deg': 'double',
    'day_night': 'varchar', 'weather': 'varchar', 'weather_source': 'varchar'}) }}
