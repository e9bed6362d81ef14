"""Connector vocabulary: which types exist, their family, and how to name a resource's location."""

from __future__ import annotations

from typing import Any

FILE = "file"
DATABASE = "database"
API = "api"
STREAM = "stream"
NOSQL = "nosql"

FAMILIES: dict[str, str] = {
    **dict.fromkeys(
        [
            "s3",
            "gcs",
            "azure_blb",
            "azure_data_lake",
            "ftp",
            "gdrive",
            "dropbox",
            "box",
            "sharepoint",
            "min_io_s3",
            "webdav",
        ],
        FILE,
    ),
    **dict.fromkeys(
        [
            "postgres",
            "mysql",
            "snowflake",
            "bigquery",
            "redshift",
            "sqlserver",
            "oracle",
            "databricks",
            "db2",
            "teradata",
            "aws_athena",
        ],
        DATABASE,
    ),
    **dict.fromkeys(["rest", "soap", "nexla_rest"], API),
    **dict.fromkeys(["kafka", "confluent_kafka", "google_pubsub"], STREAM),
    **dict.fromkeys(["mongo", "dynamodb", "firebase"], NOSQL),
}

_DISPLAY = {
    "s3": "Amazon S3",
    "gcs": "Google Cloud Storage",
    "azure_blb": "Azure Blob Storage",
    "ftp": "FTP / SFTP",
    "gdrive": "Google Drive",
    "postgres": "PostgreSQL",
    "mysql": "MySQL",
    "snowflake": "Snowflake",
    "bigquery": "Google BigQuery",
    "redshift": "Amazon Redshift",
    "rest": "REST API",
    "kafka": "Apache Kafka",
    "mongo": "MongoDB",
    "dynamodb": "Amazon DynamoDB",
}
_CONNECTOR_IDS = {name: 300 + index for index, name in enumerate(sorted(FAMILIES))}

# Sink formats the official SDK accepts; file sinks declare one, others leave it null.
SINK_FORMATS = ("json", "csv", "parquet", "avro", "xml", "delimited", "fixed_width")


def family(connector_type: str) -> str:
    return FAMILIES.get(connector_type, API)


def is_known(connector_type: str) -> bool:
    return connector_type in FAMILIES


def connector(connector_type: str) -> dict[str, Any]:
    display = _DISPLAY.get(connector_type, connector_type.replace("_", " ").title())
    return {
        "id": _CONNECTOR_IDS.get(connector_type, 399),
        "type": connector_type,
        "connection_type": connector_type,
        "name": display,
        "description": f"{display} connector",
        "nexset_api_compatible": family(connector_type) in (DATABASE, NOSQL),
    }


def location(connector_type: str, config: dict[str, Any]) -> str:
    """A human-readable place a source reads from or a sink writes to."""
    kind = family(connector_type)
    if kind == FILE:
        scheme = {"s3": "s3", "gcs": "gs", "ftp": "sftp"}.get(connector_type, connector_type)
        return f"{scheme}://{config.get('path', 'data/')}"
    if kind == DATABASE:
        parts = [config.get("database"), config.get("schema"), config.get("table")]
        return ".".join(str(part) for part in parts if part) or "default"
    if kind == STREAM:
        return f"topic {config.get('topic', 'events')}"
    if kind == NOSQL:
        return f"collection {config.get('collection', 'items')}"
    return str(config.get("url", "https://api.example.com/v1/items"))


def host_of(connector_type: str, config: dict[str, Any]) -> str:
    if "host" in config:
        return str(config["host"])
    url = str(config.get("url", ""))
    if "://" in url:
        return url.split("://", 1)[1].split("/", 1)[0]
    return {"s3": "s3.us-east-1.amazonaws.com", "gcs": "storage.googleapis.com"}.get(
        connector_type, f"{connector_type}.acme-retail.example"
    )
