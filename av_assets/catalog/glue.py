"""Production catalog: register the catalog views' Parquet locations as AWS Glue tables (Athena,
Spark and Trino then see what `av query` sees locally). Tested against moto."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_HIVE = {
    "VARCHAR": "string",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "UINTEGER": "bigint",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "FLOAT": "float",
    "VARCHAR[]": "array<string>",
    "DOUBLE[]": "array<double>",
}


def hive_type(duckdb_type: str) -> str:
    return _HIVE.get(duckdb_type.upper(), "string")


def table_input(view, lake_root: str) -> dict[str, Any]:
    """Glue TableInput for a declared table (`av_contracts.tables`): an external Parquet table at the
    folder its partitions live under."""
    location = lake_root.rstrip("/") + "/" + view.root + "/"
    return {
        "Name": view.name,
        "Description": view.description[:2048],
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "av:glob": view.glob},
        "StorageDescriptor": {
            "Columns": [{"Name": c, "Type": hive_type(t)} for c, t in view.columns.items()],
            "Location": location,
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {
                "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
            },
        },
    }


def register_views(glue, database: str, lake_root: str, views: Sequence | None = None) -> dict[str, str]:
    """Create or update one Glue table per view in `database` (created if missing).
    Returns {view: 'created' | 'updated'}."""
    from av_contracts.tables import views as table_views

    views = list(table_views() if views is None else views)
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database, "Description": "av-platform catalog views"})
    out = {}
    for v in views:
        ti = table_input(v, lake_root)
        try:
            glue.get_table(DatabaseName=database, Name=v.name)
            glue.update_table(DatabaseName=database, TableInput=ti)
            out[v.name] = "updated"
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=database, TableInput=ti)
            out[v.name] = "created"
    return out
