"""One spec per seeded flow: what it is made of and which incident (if any) it shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SinkSpec:
    name: str
    sink_type: str
    credential: str
    config: dict[str, Any]
    sink_format: str | None = None


@dataclass(frozen=True)
class FlowSpec:
    kind: str
    name: str
    domain: str
    source: tuple[str, str, str, dict[str, Any]]  # name, type, credential, config
    sinks: tuple[SinkSpec, ...] = ()
    derived: tuple[str, str] | None = None  # nexset name, transform name
    base_records: int = 5000
    interval_min: int = 60
    flow_type: str = "batch"
    description: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)


SEED_FLOWS: tuple[FlowSpec, ...] = (
    FlowSpec(
        "healthy",
        "Orders S3 to Snowflake",
        "orders",
        ("orders-s3", "s3", "s3-orders-prod", {"path": "acme-orders/in/", "file_format": "json"}),
        (
            SinkSpec(
                "orders-snowflake",
                "snowflake",
                "snowflake-analytics-loader",
                {"database": "ANALYTICS", "schema": "PUBLIC", "table": "ORDERS"},
            ),
        ),
        ("orders-clean", "normalize-orders"),
        12000,
        description="Web orders into the warehouse",
    ),
    FlowSpec(
        "healthy",
        "Customers Postgres to BigQuery",
        "customers",
        (
            "customers-postgres",
            "postgres",
            "postgres-customers-replica",
            {
                "host": "pg-customers.prod.internal",
                "database": "crm",
                "schema": "public",
                "table": "customers",
            },
        ),
        (
            SinkSpec(
                "customers-bigquery",
                "bigquery",
                "bigquery-analytics",
                {"database": "analytics", "table": "customers"},
            ),
        ),
        None,
        4000,
        120,
    ),
    FlowSpec(
        "healthy",
        "Clickstream Kafka to S3 lake",
        "events",
        ("clickstream-kafka", "kafka", "kafka-clickstream", {"topic": "web.clickstream.v2"}),
        (
            SinkSpec(
                "clickstream-s3-lake",
                "s3",
                "s3-datalake-writer",
                {"path": "acme-datalake/clickstream/", "file_format": "parquet"},
                "parquet",
            ),
        ),
        ("clickstream-sessionized", "sessionize-events"),
        50000,
        30,
        "streaming",
    ),
    FlowSpec(
        "paused",
        "Legacy FTP invoices to S3 archive",
        "ledger",
        (
            "legacy-invoices-ftp",
            "ftp",
            "ftp-legacy-invoices",
            {"path": "outbound/invoices/", "file_format": "csv"},
        ),
        (
            SinkSpec(
                "invoices-s3-archive",
                "s3",
                "s3-archive-writer",
                {"path": "acme-archive/invoices/", "file_format": "csv"},
                "csv",
            ),
        ),
        None,
        800,
        360,
        description="Paused while the vendor migrates to the new portal",
    ),
    FlowSpec(
        "credential_expired",
        "HubSpot contacts to Postgres",
        "contacts",
        (
            "hubspot-contacts",
            "rest",
            "hubspot-oauth",
            {"url": "https://api.hubapi.com/crm/v3/objects/contacts", "method": "GET"},
        ),
        (
            SinkSpec(
                "contacts-postgres",
                "postgres",
                "postgres-marketing",
                {"database": "marketing", "schema": "public", "table": "contacts"},
            ),
        ),
        None,
        2500,
    ),
    FlowSpec(
        "permission_denied",
        "Finance ledger S3 to Redshift",
        "ledger",
        (
            "finance-ledger-s3",
            "s3",
            "s3-finance-readonly",
            {"path": "acme-finance-exports/ledger/", "file_format": "json"},
        ),
        (
            SinkSpec(
                "ledger-redshift",
                "redshift",
                "redshift-finance",
                {"database": "finance", "schema": "gl", "table": "ledger_entries"},
            ),
        ),
        None,
        6000,
        120,
    ),
    FlowSpec(
        "transform_error",
        "Payments GCS to BigQuery",
        "payments",
        (
            "payments-gcs",
            "gcs",
            "gcs-payments",
            {"path": "acme-payments-settlements/daily/", "file_format": "json"},
        ),
        (
            SinkSpec(
                "payments-bigquery",
                "bigquery",
                "bigquery-analytics",
                {"database": "finance", "table": "payments"},
            ),
        ),
        ("payments-normalized", "payments-currency-normalize"),
        9000,
    ),
    FlowSpec(
        "schema_mismatch",
        "Partner orders SFTP to Postgres",
        "orders",
        (
            "partner-orders-sftp",
            "ftp",
            "sftp-partner-feed",
            {"path": "drop/orders/", "file_format": "csv"},
        ),
        (
            SinkSpec(
                "partner-orders-postgres",
                "postgres",
                "postgres-ops",
                {"database": "ops", "schema": "public", "table": "partner_orders"},
            ),
        ),
        ("partner-orders-typed", "partner-orders-mapping"),
        3000,
    ),
    FlowSpec(
        "rate_limited",
        "Shopify orders API to Snowflake",
        "orders",
        (
            "shopify-orders",
            "rest",
            "shopify-admin-api",
            {
                "url": "https://acme-retail.myshopify.com/admin/api/2024-01/orders.json",
                "method": "GET",
            },
        ),
        (
            SinkSpec(
                "shopify-orders-snowflake",
                "snowflake",
                "snowflake-analytics-loader",
                {"database": "ANALYTICS", "schema": "SHOPIFY", "table": "ORDERS"},
            ),
        ),
        None,
        7000,
    ),
    FlowSpec(
        "network_timeout",
        "Billing DB replica to S3 archive",
        "ledger",
        (
            "billing-postgres-replica",
            "postgres",
            "postgres-billing-replica",
            {
                "host": "pg-replica-2.billing.internal",
                "database": "billing",
                "schema": "public",
                "table": "invoices",
            },
        ),
        (
            SinkSpec(
                "billing-s3-archive",
                "s3",
                "s3-archive-writer",
                {"path": "acme-archive/billing/", "file_format": "parquet"},
                "parquet",
            ),
        ),
        None,
        40000,
    ),
    FlowSpec(
        "resource_conflict",
        "Salesforce accounts to Postgres warehouse",
        "customers",
        (
            "salesforce-accounts",
            "rest",
            "salesforce-oauth",
            {
                "url": "https://acme.my.salesforce.com/services/data/v60.0/sobjects/Account",
                "method": "GET",
            },
        ),
        (
            SinkSpec(
                "accounts-postgres",
                "postgres",
                "postgres-warehouse",
                {"database": "warehouse", "schema": "crm", "table": "accounts"},
            ),
        ),
        None,
        5000,
    ),
    FlowSpec(
        "flow_not_running",
        "Inventory MySQL to Snowflake",
        "inventory",
        (
            "inventory-mysql",
            "mysql",
            "mysql-inventory",
            {
                "host": "mysql-inventory.prod.internal",
                "database": "inventory",
                "table": "stock_levels",
            },
        ),
        (
            SinkSpec(
                "inventory-snowflake",
                "snowflake",
                "snowflake-analytics-loader",
                {"database": "ANALYTICS", "schema": "OPS", "table": "INVENTORY"},
            ),
        ),
        None,
        15000,
    ),
    FlowSpec(
        "never_activated",
        "Marketing leads Drive to Postgres",
        "contacts",
        (
            "marketing-leads-gdrive",
            "gdrive",
            "gdrive-marketing",
            {"path": "Marketing/Leads/", "file_format": "csv"},
        ),
        (),
        None,
        500,
        1440,
        description="Draft: waiting for the marketing team's sign-off",
    ),
    FlowSpec(
        "high_error_rate",
        "Event registrations API to BigQuery",
        "customers",
        (
            "event-registrations",
            "rest",
            "registrations-api",
            {"url": "https://events.acme-retail.example/api/v2/registrations", "method": "GET"},
        ),
        (
            SinkSpec(
                "registrations-bigquery",
                "bigquery",
                "bigquery-analytics",
                {"database": "marketing", "table": "registrations"},
            ),
        ),
        ("registrations-validated", "registrations-cleanup"),
        3500,
    ),
    FlowSpec(
        "stale_data",
        "Daily FX rates S3 to Redshift",
        "rates",
        (
            "fx-rates-s3",
            "s3",
            "s3-market-data",
            {"path": "acme-market-data/fx/", "file_format": "json"},
        ),
        (
            SinkSpec(
                "fx-rates-redshift",
                "redshift",
                "redshift-finance",
                {"database": "finance", "schema": "ref", "table": "fx_rates"},
            ),
        ),
        None,
        170,
        120,
    ),
)
