"""The seeded org's credentials and reusable transforms."""

from __future__ import annotations

from typing import Any

from nexla_mcp.sandbox import builder

# name -> (credentials_type, what the credential may show)
CREDENTIALS: dict[str, tuple[str, dict[str, Any]]] = {
    "s3-orders-prod": ("s3", {"region": "us-east-1", "bucket": "acme-orders"}),
    "snowflake-analytics-loader": (
        "snowflake",
        {
            "account": "acme-retail.us-east-1",
            "warehouse": "LOAD_WH",
            "username": "NEXLA_LOADER",
            "role": "LOADER",
        },
    ),
    "postgres-customers-replica": (
        "postgres",
        {
            "host": "pg-customers.prod.internal",
            "port": 5432,
            "database": "crm",
            "username": "nexla_reader",
        },
    ),
    "bigquery-analytics": ("bigquery", {"project_id": "acme-analytics-prod"}),
    "kafka-clickstream": (
        "kafka",
        {"bootstrap_servers": "b-1.clickstream.kafka.internal:9096", "username": "nexla"},
    ),
    "s3-datalake-writer": ("s3", {"region": "us-east-1", "bucket": "acme-datalake"}),
    "ftp-legacy-invoices": ("ftp", {"host": "ftp.vendor-invoices.example", "username": "acme"}),
    "s3-archive-writer": ("s3", {"region": "us-east-1", "bucket": "acme-archive"}),
    "hubspot-oauth": ("rest", {"base_url": "https://api.hubapi.com", "auth_type": "oauth2"}),
    "postgres-marketing": (
        "postgres",
        {
            "host": "pg-marketing.prod.internal",
            "port": 5432,
            "database": "marketing",
            "username": "nexla_writer",
        },
    ),
    "s3-finance-readonly": ("s3", {"region": "us-east-1", "bucket": "acme-finance-exports"}),
    "redshift-finance": (
        "redshift",
        {
            "host": "finance.c8x2.us-east-1.redshift.amazonaws.com",
            "database": "finance",
            "username": "nexla_loader",
        },
    ),
    "gcs-payments": ("gcs", {"project_id": "acme-payments"}),
    "sftp-partner-feed": ("ftp", {"host": "sftp.partner-co.example", "username": "acme_ingest"}),
    "postgres-ops": (
        "postgres",
        {
            "host": "pg-ops.prod.internal",
            "port": 5432,
            "database": "ops",
            "username": "nexla_writer",
        },
    ),
    "shopify-admin-api": (
        "rest",
        {"base_url": "https://acme-retail.myshopify.com/admin/api/2024-01", "auth_type": "api_key"},
    ),
    "postgres-billing-replica": (
        "postgres",
        {
            "host": "pg-replica-2.billing.internal",
            "port": 5432,
            "database": "billing",
            "username": "etl_reader",
        },
    ),
    "salesforce-oauth": (
        "rest",
        {"base_url": "https://acme.my.salesforce.com", "auth_type": "oauth2"},
    ),
    "postgres-warehouse": (
        "postgres",
        {
            "host": "pg-warehouse.prod.internal",
            "port": 5432,
            "database": "warehouse",
            "username": "nexla_writer",
        },
    ),
    "mysql-inventory": (
        "mysql",
        {
            "host": "mysql-inventory.prod.internal",
            "port": 3306,
            "database": "inventory",
            "username": "nexla_reader",
        },
    ),
    "gdrive-marketing": ("gdrive", {"client_id": "40421-nexla.apps.googleusercontent.com"}),
    "registrations-api": (
        "rest",
        {"base_url": "https://events.acme-retail.example/api", "auth_type": "api_key"},
    ),
    "s3-market-data": ("s3", {"region": "us-east-1", "bucket": "acme-market-data"}),
}

# transform name -> (code_type, reusable, code)
TRANSFORMS: dict[str, tuple[str, bool, list[dict[str, Any]]]] = {
    "normalize-orders": (
        "jolt_standard",
        True,
        builder.jolt_shift(
            {"order_id": "order_id", "order_total": "order_total", "currency": "currency"}
        ),
    ),
    "sessionize-events": (
        "python",
        True,
        builder.python_transform(
            "def transform(r):\n    r['session'] = r['session_id']\n    return r"
        ),
    ),
    "payments-currency-normalize": (
        "python",
        True,
        builder.python_transform(
            "def transform(r):\n    r['amount_usd'] = r['amount']\n    return r"
        ),
    ),
    "partner-orders-mapping": (
        "jolt_standard",
        False,
        builder.jolt_shift({"ORDER_ID": "order_id", "ORDER_TOTAL": "order_total"}),
    ),
    "registrations-cleanup": (
        "jolt_standard",
        True,
        builder.jolt_shift({"email": "email", "signup_date": "signup_date"}),
    ),
    "mask-pii-emails": (
        "python",
        True,
        builder.python_transform("def transform(r):\n    r['email'] = '***'\n    return r"),
    ),
}
